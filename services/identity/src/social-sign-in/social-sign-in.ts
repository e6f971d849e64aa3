import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthMode, OAuthRedirectError, SocialProvider, UserRecord } from '@gatehouse/contracts';
import { AppError, isAppError, type Logger, normalizeEmail } from '@gatehouse/kit';
import type { AccountMail, Requester } from '../account-mail/account-mail.ts';
import type { AccountPeers } from '../account-peers.ts';
import type { ApiKeys } from '../api-keys/api-keys.ts';
import type { UserRow } from '../db/schema.ts';
import type { IdentitiesStore, ProviderAccount } from '../identities/identities.store.ts';
import { invalidToken } from '../one-time-tokens/one-time-tokens.ts';
import type { UserEvents } from '../users/user-events.ts';
import { toUserRecord } from '../users/user-record.ts';
import type { UsersStore } from '../users/users.store.ts';
import type { FlowStore } from './flow-store.ts';
import { type FlowSecrets, type ProviderClient, ProviderFlowError, type ProviderProfile } from './provider-client.ts';

/** A flow lives 10 minutes between the redirect to the provider and its callback. */
export const STATE_TTL_SECONDS = 600;
/** An exchange code lives 60 seconds: the app trades it as soon as the browser lands. */
export const EXCHANGE_TTL_SECONDS = 60;
/** A link token lives as long as a flow: the browser opens it right away. */
export const LINK_TTL_SECONDS = 600;

/** What a begun flow remembers, under its state. */
interface FlowRecord {
  project_id: string;
  provider: string;
  redirect_to: string;
  auth_mode?: AuthMode;
  /** SHA-256 of the browser's binding secret: the flow finishes only in the browser that began it. */
  binding: string;
  secrets: FlowSecrets;
  /** A link flow: the user the provider account is linked to. */
  link_user_id?: string;
}

interface ExchangeRecord {
  project_id: string;
  user_id: string;
}

interface LinkRecord {
  project_id: string;
  user_id: string;
  provider: string;
  redirect_to: string;
}

export type CallbackOutcome =
  | { status: 'signed_in'; user: UserRecord }
  | { status: 'code'; code: string }
  | { status: 'linked'; provider: string; project_id: string; user_id: string }
  | { status: 'failed'; error: OAuthRedirectError };

export interface CallbackResult {
  redirect_to: string;
  auth_mode?: AuthMode;
  session_ids: string[];
  outcome: CallbackOutcome;
}

export interface SocialSignInDeps {
  providers: readonly ProviderClient[];
  flows: FlowStore;
  identities: IdentitiesStore;
  store: UsersStore;
  events: UserEvents;
  peers: AccountPeers;
  /** A claimed account's API keys go with its other ways in. */
  apiKeys: Pick<ApiKeys, 'revokeAll'>;
  /** The notice that a provider account was added to an account. */
  mail: AccountMail;
  log: Logger;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();
const newSecret = () => randomBytes(32).toString('base64url');

/** A failure that ends the flow with a redirect to the app carrying `?error=`. */
class FlowFailure extends Error {
  constructor(readonly error: OAuthRedirectError) {
    super(error);
  }
}

/**
 * Sign-in with social providers, and linking them to an account. Security
 * rules, each where it is enforced:
 * - the state is random, single use and lives 10 minutes, and is bound to the
 *   browser that began the flow (a secret in its HttpOnly cookie), so a
 *   callback URL planted in another browser (login CSRF) finishes nothing;
 * - PKCE S256 on every provider, a nonce and full ID token validation for
 *   OpenID Connect (provider-client.ts);
 * - a provider account signs in the user it is linked to, found by the
 *   provider's subject, never by an address that can change at the provider;
 * - an existing account is entered by address only when the provider says
 *   that address is verified (else anyone who can set an unverified address at
 *   a provider would take the account); such a proof claims an account whose
 *   own address was never proven, as a magic link does: what was set up before
 *   (a password, second factors, sessions) may be someone else's and goes;
 * - the code the app trades for tokens is single use, lives 60 seconds and is
 *   stored hashed; no failure leaves one behind.
 */
export class SocialSignIn {
  readonly #deps: SocialSignInDeps;
  readonly #providers: ReadonlyMap<string, ProviderClient>;

  constructor(deps: SocialSignInDeps) {
    this.#deps = deps;
    this.#providers = new Map(deps.providers.map((p) => [p.settings.id, p]));
  }

  /** The enabled providers, for a sign-in page. */
  list(): SocialProvider[] {
    return [...this.#providers.values()].map(({ settings }) => ({
      id: settings.id,
      name: settings.name,
      type: settings.kind === 'oidc' ? 'oidc' : 'oauth2',
    }));
  }

  #provider(id: string): ProviderClient {
    const provider = this.#providers.get(id);
    if (!provider) throw new AppError('unknown_provider', `no provider ${id} is enabled`);
    return provider;
  }

  /** A link token for `userId`: opening /auth/oauth/{provider}?link_token= begins the linking flow. */
  async linkToken(projectId: string, userId: string, provider: string, redirectTo: string): Promise<string> {
    this.#provider(provider);
    const token = newSecret();
    const record: LinkRecord = { project_id: projectId, user_id: userId, provider, redirect_to: redirectTo };
    await this.#deps.flows.put('link', token, JSON.stringify(record), LINK_TTL_SECONDS);
    return token;
  }

  /**
   * Begins a flow: the provider's authorization URL. A `linkToken` makes it a
   * linking flow for the token's user, back to the token's `redirect_to`.
   * Throws `unknown_provider`, `invalid_one_time_token`, `service_unavailable`.
   */
  async start(input: {
    projectId: string;
    provider: string;
    redirectTo: string;
    authMode?: AuthMode;
    binding: string;
    linkToken?: string;
  }): Promise<{ url: string }> {
    const provider = this.#provider(input.provider);
    let link: LinkRecord | undefined;
    if (input.linkToken !== undefined) {
      const raw = await this.#deps.flows.take('link', input.linkToken);
      link = raw === null ? undefined : (JSON.parse(raw) as LinkRecord);
      if (!link || link.project_id !== input.projectId || link.provider !== input.provider) throw invalidToken();
    }
    const secrets = provider.newSecrets();
    let url: URL;
    try {
      url = await provider.authorizationUrl(secrets);
    } catch (err) {
      if (!(err instanceof ProviderFlowError)) throw err;
      throw new AppError('service_unavailable', `${input.provider} cannot be reached; try again shortly`, {
        cause: err,
        retryAfter: 5,
      });
    }
    const record: FlowRecord = {
      project_id: input.projectId,
      provider: input.provider,
      redirect_to: link?.redirect_to ?? input.redirectTo,
      ...(input.authMode && !link ? { auth_mode: input.authMode } : {}),
      binding: sha256(input.binding).toString('base64url'),
      secrets,
      ...(link ? { link_user_id: link.user_id } : {}),
    };
    await this.#deps.flows.put('state', secrets.state, JSON.stringify(record), STATE_TTL_SECONDS);
    return { url: url.toString() };
  }

  /**
   * Finishes a flow with the provider's answer. Throws `invalid_state` when
   * nothing safe is left to redirect to: a state unknown, used, expired, of
   * another provider or project, or begun in another browser (the state is
   * used up either way). Everything after that is a redirect.
   */
  async callback(input: {
    /** Absent: the flow's own project (the provider's redirect names none). */
    projectId?: string;
    provider: string;
    binding: string;
    params: Record<string, string>;
    who?: Requester;
    requestId?: string;
  }): Promise<CallbackResult> {
    const state = input.params.state;
    const raw = state ? await this.#deps.flows.take('state', state) : null;
    const flow = raw === null ? null : (JSON.parse(raw) as FlowRecord);
    const expected = flow ? Buffer.from(flow.binding, 'base64url') : null;
    const sameBrowser = expected !== null && timingSafeEqual(expected, sha256(input.binding));
    if (
      !flow ||
      !sameBrowser ||
      flow.provider !== input.provider ||
      (input.projectId !== undefined && flow.project_id !== input.projectId)
    ) {
      throw new AppError('invalid_state', 'this sign-in has expired or was begun elsewhere; start again');
    }
    const result = (outcome: CallbackOutcome, sessionIds: string[] = []): CallbackResult => ({
      redirect_to: flow.redirect_to,
      ...(flow.auth_mode ? { auth_mode: flow.auth_mode } : {}),
      session_ids: sessionIds,
      outcome,
    });
    try {
      const profile = await this.#provider(input.provider).finish(new URLSearchParams(input.params), flow.secrets);
      const account: ProviderAccount = {
        provider: input.provider,
        subject: profile.subject,
        email: profile.email === null ? null : normalizeEmail(profile.email),
        emailVerified: profile.emailVerified && profile.email !== null && normalizeEmail(profile.email) !== null,
      };
      const notice = { who: input.who ?? {}, requestId: input.requestId };
      if (flow.link_user_id) {
        await this.#link(flow.project_id, flow.link_user_id, account, notice);
        return result({
          status: 'linked',
          provider: input.provider,
          project_id: flow.project_id,
          user_id: flow.link_user_id,
        });
      }
      const { user, sessionIds } = await this.#signIn(flow.project_id, account, profile, notice);
      // Cookie mode sets the cookies at the callback; a user with a second factor, and token
      // mode, get a code instead, traded by the app (the MFA challenge is the exchange's answer).
      if (flow.auth_mode === 'cookie' && !user.mfa_enabled) {
        return result({ status: 'signed_in', user: toUserRecord(user) }, sessionIds);
      }
      const code = newSecret();
      const record: ExchangeRecord = { project_id: flow.project_id, user_id: user.id };
      await this.#deps.flows.put('exchange', code, JSON.stringify(record), EXCHANGE_TTL_SECONDS);
      return result({ status: 'code', code }, sessionIds);
    } catch (err) {
      const error = failureOf(err);
      if (!error) throw err;
      if (err instanceof ProviderFlowError) {
        this.#deps.log.warn({ err: err.cause ?? err, provider: input.provider, failure: error }, err.message);
      }
      return result({ status: 'failed', error });
    }
  }

  /** Trades an exchange code for its user. Throws `invalid_one_time_token`, `user_banned`. */
  async exchange(projectId: string, code: string): Promise<UserRecord> {
    const raw = await this.#deps.flows.take('exchange', code);
    const record = raw === null ? null : (JSON.parse(raw) as ExchangeRecord);
    if (!record || record.project_id !== projectId) throw invalidToken();
    const user = await this.#deps.store.findById(projectId, record.user_id);
    if (!user) throw invalidToken();
    if (user.banned) throw new AppError('user_banned', 'this account is banned');
    return toUserRecord(user);
  }

  /** Links the provider account to a signed-in user: refused when it is another user's. */
  async #link(projectId: string, userId: string, account: ProviderAccount, notice: Notice): Promise<void> {
    const { identities, store } = this.#deps;
    const user = await store.findById(projectId, userId);
    if (!user) throw new FlowFailure('invalid_state');
    if (user.banned) throw new FlowFailure('user_banned');
    const added = await identities.link(projectId, userId, account);
    if (added) {
      await this.#noticeAdded(projectId, userId, account.provider, notice);
      return;
    }
    const linked = await identities.find(projectId, account.provider, account.subject);
    if (!linked || linked.user_id !== userId) throw new FlowFailure('identity_already_linked');
    await identities.refresh(linked.id, account);
  }

  /** Mails the user that a provider account is now a way into their account (best effort). */
  async #noticeAdded(projectId: string, userId: string, provider: string, notice: Notice): Promise<void> {
    const name = this.#providers.get(provider)?.settings.name ?? provider;
    await this.#deps.mail.factorAdded(projectId, userId, 'provider', name, notice.who, notice.requestId);
  }

  /**
   * The user this provider account signs in: the one it is linked to; else
   * the account with its address when the provider proves the address (linked
   * now); else a new user. A race with another first sign-in of the same
   * provider account (or address) is retried once, and then finds the winner.
   */
  async #signIn(
    projectId: string,
    account: ProviderAccount,
    profile: ProviderProfile,
    notice: Notice,
  ): Promise<{ user: UserRow; sessionIds: string[] }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#signInOnce(projectId, account, profile, notice);
      } catch (err) {
        if (!(err instanceof LostRace) || attempt > 0)
          throw err instanceof LostRace ? new FlowFailure('provider_error') : err;
      }
    }
  }

  async #signInOnce(
    projectId: string,
    account: ProviderAccount,
    profile: ProviderProfile,
    notice: Notice,
  ): Promise<{ user: UserRow; sessionIds: string[] }> {
    const { identities, store, events } = this.#deps;
    const known = await identities.find(projectId, account.provider, account.subject);
    if (known) {
      const user = await store.findById(projectId, known.user_id);
      if (!user) throw new LostRace(); // deleted meanwhile: its identity went with it
      if (user.banned) throw new FlowFailure('user_banned');
      await identities.refresh(known.id, account);
      return { user, sessionIds: [] };
    }
    const owner = account.email === null ? null : await store.findByEmail(projectId, account.email);
    if (owner) {
      // The account-takeover rule: an address the provider does not vouch for never opens an account.
      if (!account.emailVerified) throw new FlowFailure('account_exists');
      if (owner.banned) throw new FlowFailure('user_banned');
      const sessionIds = owner.email_verified ? [] : await this.#claim(owner, notice.requestId);
      if (!(await identities.link(projectId, owner.id, account))) throw new LostRace();
      const user = owner.email_verified
        ? owner
        : ((await store.update(
            projectId,
            owner.id,
            { emailVerified: true, passwordHash: null },
            { email: account.email as string },
          )) ?? owner);
      if (!owner.email_verified) await events.changed('events.user.updated', user);
      // An existing account gained a way in: its owner hears of it, as of any sign-in method added.
      await this.#noticeAdded(projectId, owner.id, account.provider, notice);
      return { user, sessionIds };
    }
    let user: UserRow;
    try {
      user = await store.create({
        projectId,
        email: account.email,
        emailVerified: account.emailVerified,
        passwordHash: null,
        role: 'user',
        name: profile.name?.slice(0, 200) ?? null,
        avatarUrl: profile.avatarUrl?.slice(0, 2048) ?? null,
      });
    } catch (err) {
      if (isAppError(err, 'email_taken')) throw new LostRace();
      throw err;
    }
    if (!(await identities.link(projectId, user.id, account))) {
      // Another first sign-in of this provider account won: undo ours and sign in to theirs.
      await store.delete(projectId, user.id);
      throw new LostRace();
    }
    await events.created(user);
    return { user, sessionIds: [] };
  }

  /**
   * A provider proves the address of an account that never proved it: what
   * was set up before the proof (sessions, second factors, linked provider
   * accounts, the password) may be whoever registered the address first, and
   * goes, before the link.
   */
  async #claim(owner: UserRow, requestId: string | undefined): Promise<string[]> {
    const { peers, identities, apiKeys } = this.#deps;
    const ended = await peers.revokeSessions(owner.id, 'address_proven', requestId);
    await peers.forgetFactors(owner.project_id, owner.id, null, requestId);
    await identities.removeLinkedSince(owner.project_id, owner.id, null);
    await apiKeys.revokeAll(owner.project_id, owner.id);
    return ended;
  }
}

/** Who finished the flow, for the notice of an added provider account. */
interface Notice {
  who: Requester;
  requestId: string | undefined;
}

/** Another sign-in changed what this one read: read again. */
class LostRace extends Error {}

/** The redirect error for a failure, or undefined for a bug (thrown: the gateway answers 500). */
function failureOf(err: unknown): OAuthRedirectError | undefined {
  if (err instanceof FlowFailure) return err.error;
  if (err instanceof ProviderFlowError) return err.failure;
  // Gatehouse's own database or a peer service down: the flow is used up, so say so to the app.
  if (isAppError(err, 'service_unavailable')) return 'service_unavailable';
  return undefined;
}
