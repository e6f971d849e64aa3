/**
 * The SDK's types, all taken from the HTTP contract (@gatehouse/contracts): its exported types,
 * and `Static<typeof Schema>` where only a schema is exported. Nothing here is written by hand.
 *
 * Each public type is also "written out" through `shape<T>()`: the declaration emitter then
 * prints its structure (`{ id: string; ... }`) in dist/index.d.ts rather than a reference to a
 * TypeBox schema, so the published types need neither @gatehouse/contracts nor TypeBox.
 */
import type {
  AdminUserPatchBody,
  AdminUsersResponse,
  ApiKeyCreated,
  AuditQuery,
  AuditResponse,
  AccessClaims as ContractAccessClaims,
  AdminUser as ContractAdminUser,
  ApiKey as ContractApiKey,
  AssignableRole as ContractAssignableRole,
  AuditEventType as ContractAuditEventType,
  AuditEventView as ContractAuditEventView,
  Invitation as ContractInvitation,
  LinkedIdentity as ContractLinkedIdentity,
  MfaChallenge as ContractMfaChallenge,
  Passkey as ContractPasskey,
  Project as ContractProject,
  ProjectSettings as ContractProjectSettings,
  Role as ContractRole,
  SessionInfo as ContractSessionInfo,
  SocialProvider as ContractSocialProvider,
  TokenResponse as ContractTokenResponse,
  User as ContractUser,
  WireErrorCode as ContractWireErrorCode,
  MfaStatusResponse,
  PasskeyCreated,
  PatchMeBody,
  ProjectCreateBody,
  ProjectCreated,
  ProjectKeys as ProjectKeysSchema,
  ProjectPatchBody,
  SessionResponse,
  SessionsResponse,
  StepUpBody,
  TotpSetupResponse,
} from '@gatehouse/contracts';

/**
 * TypeBox's `Static<typeof Schema>`: a schema's `static` member is the type it describes. (The
 * SDK does not depend on @sinclair/typebox itself, so it reads the member the way Static does.)
 */
export type Static<T extends { static: unknown }> = T['static'];

/** A value whose type is T written out member by member (never called at run time for its value). */
const shape = <T>(): { [K in keyof T]: T[K] } => undefined as never;

const user = /* @__PURE__ */ shape<ContractUser>();
/** The contract's User. */
export type User = typeof user;

const adminUser = /* @__PURE__ */ shape<ContractAdminUser>();
/** A user as an admin sees it: the User and its ban flag. */
export type AdminUser = typeof adminUser;

const role = /* @__PURE__ */ shape<ContractRole>();
export type Role = typeof role;

const assignableRole = /* @__PURE__ */ shape<ContractAssignableRole>();
/** A role an admin can give (`guest` is never assigned). */
export type AssignableRole = typeof assignableRole;

const tokenResponse = /* @__PURE__ */ shape<ContractTokenResponse>();
/** What every successful sign-in answers (in cookie mode without the two tokens). */
export type TokenResponse = typeof tokenResponse;

const mfaChallenge = /* @__PURE__ */ shape<ContractMfaChallenge>();
/** A sign-in that needs a second factor. */
export type MfaChallenge = typeof mfaChallenge;

const sessionCheck = /* @__PURE__ */ shape<Static<typeof SessionResponse>['session']>();
/** GET /auth/session: the session of the token, from the token and the revocation list alone. */
export type SessionCheck = typeof sessionCheck;

const listedSession = /* @__PURE__ */ shape<Static<typeof SessionsResponse>['sessions'][number]>();
/** One of the signed-in user's sessions (GET /auth/sessions); `current` is the caller's. */
export type Session = typeof listedSession;

const sessionInfo = /* @__PURE__ */ shape<ContractSessionInfo>();
/** A session as the admin API lists it. */
export type SessionInfo = typeof sessionInfo;

const apiKey = /* @__PURE__ */ shape<ContractApiKey>();
/** A user API key as its owner sees it (never the key itself). */
export type ApiKey = typeof apiKey;

const createdApiKey = /* @__PURE__ */ shape<Static<typeof ApiKeyCreated>>();
/** A new API key: `key` is shown this once. */
export type CreatedApiKey = typeof createdApiKey;

const mfaStatus = /* @__PURE__ */ shape<Static<typeof MfaStatusResponse>>();
/** The second factors at a glance (GET /auth/mfa). */
export type MfaStatus = typeof mfaStatus;

const totpSetup = /* @__PURE__ */ shape<Static<typeof TotpSetupResponse>>();
/** A new TOTP secret and its otpauth:// URL (for a QR code). */
export type TotpSetup = typeof totpSetup;

const passkey = /* @__PURE__ */ shape<ContractPasskey>();
export type Passkey = typeof passkey;

const createdPasskey = /* @__PURE__ */ shape<Static<typeof PasskeyCreated>>();
export type CreatedPasskey = typeof createdPasskey;

const socialProvider = /* @__PURE__ */ shape<ContractSocialProvider>();
/** An enabled social provider, for a sign-in page's buttons. */
export type SocialProvider = typeof socialProvider;

const linkedIdentity = /* @__PURE__ */ shape<ContractLinkedIdentity>();
/** A provider account linked to the user. */
export type LinkedIdentity = typeof linkedIdentity;

const invitation = /* @__PURE__ */ shape<ContractInvitation>();
export type Invitation = typeof invitation;

const project = /* @__PURE__ */ shape<ContractProject>();
/** A project (tenant); its publishable key is safe in a browser. */
export type Project = typeof project;

const projectSettings = /* @__PURE__ */ shape<ContractProjectSettings>();
export type ProjectSettings = typeof projectSettings;

const createdProject = /* @__PURE__ */ shape<Static<typeof ProjectCreated>>();
/** A new project: `secret_key` is shown this once. */
export type CreatedProject = typeof createdProject;

const projectKeys = /* @__PURE__ */ shape<Static<typeof ProjectKeysSchema>>();
/** A project's new keys after a rotation (the old secret key dies). */
export type ProjectKeys = typeof projectKeys;

const projectCreate = /* @__PURE__ */ shape<Static<typeof ProjectCreateBody>>();
export type ProjectCreate = typeof projectCreate;

const projectPatch = /* @__PURE__ */ shape<Static<typeof ProjectPatchBody>>();
/** PATCH /admin/projects/{id}: `settings` replaces the keys it names; null puts one back. */
export type ProjectPatch = typeof projectPatch;

const adminUsersPage = /* @__PURE__ */ shape<Static<typeof AdminUsersResponse>>();
/** One page of GET /admin/users: newest first, `next_cursor` null on the last page. */
export type AdminUsersPage = typeof adminUsersPage;

const adminUserPatch = /* @__PURE__ */ shape<Static<typeof AdminUserPatchBody>>();
/** PATCH /admin/users/{id}. A ban or a role change ends every session of the user. */
export type AdminUserPatch = typeof adminUserPatch;

const profilePatch = /* @__PURE__ */ shape<Static<typeof PatchMeBody>>();
/** PATCH /auth/me. */
export type ProfilePatch = typeof profilePatch;

const auditEvent = /* @__PURE__ */ shape<ContractAuditEventView>();
/** One fact of the audit log. */
export type AuditEvent = typeof auditEvent;

const auditEventType = /* @__PURE__ */ shape<ContractAuditEventType>();
export type AuditEventType = typeof auditEventType;

const auditQuery = /* @__PURE__ */ shape<Omit<Static<typeof AuditQuery>, 'limit'> & { limit?: number }>();
/** The audit log's filters (`limit` 1 to 100). */
export type AuditFilter = typeof auditQuery;

const auditPage = /* @__PURE__ */ shape<Static<typeof AuditResponse>>();
/** One page of the audit log: newest first, `next_cursor` null on the last page. */
export type AuditPage = typeof auditPage;

const stepUp = /* @__PURE__ */ shape<Static<typeof StepUpBody>>();
/** Proof of a recent sign-in, for changes to the ways in: the password, or a TOTP or recovery code. */
export type StepUp = typeof stepUp;

const accessClaims = /* @__PURE__ */ shape<ContractAccessClaims>();
/** The claims of an access token. */
export type AccessClaims = typeof accessClaims;

const wireErrorCode = /* @__PURE__ */ shape<ContractWireErrorCode>();
/** Every code the HTTP API can answer with. */
export type WireErrorCode = typeof wireErrorCode;
