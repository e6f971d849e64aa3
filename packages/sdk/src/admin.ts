import type { InvitationBody } from '@gatehouse/contracts';
import type { Call } from './client.ts';
import type {
  AdminUser,
  AdminUserPatch,
  AdminUsersPage,
  AssignableRole,
  AuditFilter,
  AuditPage,
  CreatedProject,
  Invitation,
  Project,
  ProjectCreate,
  ProjectKeys,
  ProjectPatch,
  SessionInfo,
  Static,
} from './contract.ts';
import { GatehouseError } from './errors.ts';

type Requester = <T>(call: Call) => Promise<T>;

const id = (value: string) => encodeURIComponent(value);

/**
 * The admin API (role `admin`, or a client made with a project's secret key `sk_...`): users,
 * their sessions, invitations, projects (instance admin only) and the audit log.
 */
export class AdminApi {
  readonly #request: Requester;

  constructor(request: Requester) {
    this.#request = request;
  }

  #call<T>(call: Omit<Call, 'auth'>): Promise<T> {
    return this.#request<T>({ ...call, auth: true });
  }

  // Users.

  /** A page of users, newest first; `search` matches a part of the email or the name, in any case. */
  listUsers(options: { search?: string; limit?: number; cursor?: string } = {}): Promise<AdminUsersPage> {
    return this.#call({ method: 'GET', path: '/admin/users', query: { ...options } });
  }

  /** Every user matching `search`, page after page (at most `max`, 1000 by default). */
  async searchUsers(search: string, options: { max?: number } = {}): Promise<AdminUser[]> {
    const max = options.max ?? 1000;
    const users: AdminUser[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listUsers({
        search,
        limit: Math.min(100, max - users.length),
        ...(cursor ? { cursor } : {}),
      });
      users.push(...page.users);
      cursor = page.next_cursor ?? undefined;
    } while (cursor && users.length < max);
    return users;
  }

  getUser(userId: string): Promise<AdminUser> {
    return this.#call({ method: 'GET', path: `/admin/users/${id(userId)}` });
  }

  /** Changes a user; a ban or a role change ends all its sessions at once. */
  updateUser(userId: string, patch: AdminUserPatch): Promise<AdminUser> {
    return this.#call({ method: 'PATCH', path: `/admin/users/${id(userId)}`, body: patch });
  }

  banUser(userId: string): Promise<AdminUser> {
    return this.updateUser(userId, { banned: true });
  }

  unbanUser(userId: string): Promise<AdminUser> {
    return this.updateUser(userId, { banned: false });
  }

  setRole(userId: string, role: AssignableRole): Promise<AdminUser> {
    return this.updateUser(userId, { role });
  }

  async deleteUser(userId: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `/admin/users/${id(userId)}` });
  }

  async listUserSessions(userId: string): Promise<SessionInfo[]> {
    return (
      await this.#call<{ sessions: SessionInfo[] }>({ method: 'GET', path: `/admin/users/${id(userId)}/sessions` })
    ).sessions;
  }

  /** Ends every session of the user; answers how many. */
  async revokeUserSessions(userId: string): Promise<number> {
    const res = await this.#call<{ sessions_revoked: number }>({
      method: 'DELETE',
      path: `/admin/users/${id(userId)}/sessions`,
    });
    return res.sessions_revoked;
  }

  // Invitations.

  /** Mails an invitation; its link makes the account with `role` (`user` by default). */
  createInvitation(input: { email: string; role?: AssignableRole; redirectTo?: string }): Promise<Invitation> {
    const body: Static<typeof InvitationBody> = {
      email: input.email,
      ...(input.role !== undefined ? { role: input.role } : {}),
      ...(input.redirectTo !== undefined ? { redirect_to: input.redirectTo } : {}),
    };
    return this.#call({ method: 'POST', path: '/admin/invitations', body });
  }

  async listInvitations(): Promise<Invitation[]> {
    return (await this.#call<{ invitations: Invitation[] }>({ method: 'GET', path: '/admin/invitations' })).invitations;
  }

  async revokeInvitation(invitationId: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `/admin/invitations/${id(invitationId)}` });
  }

  // Projects (the instance's admin).

  /** A new project; its `secret_key` is in this answer only. */
  createProject(input: ProjectCreate): Promise<CreatedProject> {
    return this.#call({ method: 'POST', path: '/admin/projects', body: input });
  }

  async listProjects(): Promise<Project[]> {
    return (await this.#call<{ projects: Project[] }>({ method: 'GET', path: '/admin/projects' })).projects;
  }

  /** One project (the API has no route for one: it is found in the list). */
  async getProject(projectId: string): Promise<Project> {
    const found = (await this.listProjects()).find((p) => p.id === projectId);
    if (!found) throw new GatehouseError(404, 'not_found', 'no such project');
    return found;
  }

  updateProject(projectId: string, patch: ProjectPatch): Promise<Project> {
    return this.#call({ method: 'PATCH', path: `/admin/projects/${id(projectId)}`, body: patch });
  }

  /** New keys for the project; the old secret key stops working at once. */
  rotateProjectKeys(projectId: string): Promise<ProjectKeys> {
    return this.#call({ method: 'POST', path: `/admin/projects/${id(projectId)}/keys/rotate` });
  }

  // The audit log.

  /** A page of the audit log, newest first, by user, type and time range. */
  queryAudit(filter: AuditFilter = {}): Promise<AuditPage> {
    return this.#call({ method: 'GET', path: '/admin/audit', query: { ...filter } });
  }
}
