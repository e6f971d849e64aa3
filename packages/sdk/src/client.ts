import type {
  ApiKeyCreateBody,
  DeleteMeBody,
  GuestBody,
  GuestConvertBody,
  InvitationAcceptBody,
  LinkIdentityBody,
  LoginBody,
  LoginMfaBody,
  MagicLinkBody,
  PasswordChangeBody,
  PasswordForgotBody,
  PasswordResetBody,
  RegisterBody,
  TotpEnableBody,
} from '@gatehouse/contracts';
import { REALTIME_PROTOCOL, type RealtimeEvent } from '@gatehouse/contracts/realtime';
import { AdminApi } from './admin.ts';
import type { BackoffOptions } from './backoff.ts';
import type {
  ApiKey,
  CreatedApiKey,
  CreatedPasskey,
  LinkedIdentity,
  MfaChallenge,
  MfaStatus,
  Passkey,
  ProfilePatch,
  Session,
  SessionCheck,
  SocialProvider,
  Static,
  StepUp,
  TokenResponse,
  TotpSetup,
  User,
} from './contract.ts';
import { errorFromResponse, GatehouseError, networkError } from './errors.ts';
import { jwtClaims } from './jwt.ts';
import { unref } from './random.ts';
import { type Connection, Realtime, type RealtimeStatus, type WebSocketConstructor } from './realtime.ts';
import {
  localStorageAdapter,
  memoryStorage,
  parseSession,
  SESSION_KEY,
  type StoredSession,
  type TokenStorage,
} from './storage.ts';
import { type Exclusive, exclusive, type LockManagerLike, TabChannel, type TabMessage } from './tabs.ts';
import { createPasskeyCredential, getPasskeyCredential, type WebAuthnJSON } from './webauthn.ts';

/** What the SDK needs of `fetch`. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Gatehouse's base URL, e.g. `https://auth.example.com`. */
  url: string;
  /**
   * Where the session lives: `'localStorage'` (the default in a browser), `'memory'` (the
   * default elsewhere), `'cookie'` (cookie mode: HttpOnly cookies, nothing stored by the SDK), or
   * your own TokenStorage (`localStorageAdapter({ prefix })`, or any get/set/remove object).
   */
  storage?: TokenStorage | 'memory' | 'localStorage' | 'cookie';
  /**
   * A user API key (`uk_...`), or a project's secret key (`sk_...`) for the admin API: the client
   * then authenticates every call with `X-API-Key` and never signs in nor refreshes.
   */
  apiKey?: string;
  /** The project's publishable key (`pk_...`), sent as `X-API-Key` to name a project other than the default one. */
  publishableKey?: string;
  /** A fetch of your own (default: the global fetch). */
  fetch?: FetchLike;
  /** A WebSocket constructor (default: globalThis.WebSocket, else the optional peer `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Keep a realtime socket while signed in, for instant sign-out (default true; false with `apiKey`). */
  realtime?: boolean;
  /** Refresh this many seconds before the access token expires (default 60). */
  refreshMarginSeconds?: number;
  /** Headers sent with every request (server side: e.g. the end user's X-Forwarded-For). */
  headers?: Record<string, string>;
  /** Each request's time limit in ms (default 30 000); past it the call fails with `network_error`. */
  timeoutMs?: number;
  /** The cross-tab lock (default: navigator.locks; `null`: BroadcastChannel coordination instead). */
  locks?: LockManagerLike | null;
  /** The clock, in ms since the epoch (default Date.now): tests move it to expire tokens. */
  clock?: () => number;
  /** Realtime reconnection backoff (base 500 ms, at most 30 s, with jitter). */
  reconnect?: BackoffOptions;
  /** Realtime heartbeat: a `ping` every `intervalMs` (25 s); no answer within `timeoutMs` (10 s): reconnect. */
  ping?: { intervalMs?: number; timeoutMs?: number };
}

/** What a first factor answers: signed in, or a second factor is needed (complete it with verifyMfa). */
export type SignInResult = { type: 'signed_in'; user: User } | { type: 'mfa_required'; challenge: MfaChallenge };

/** A second factor for verifyMfa: a TOTP code, or a recovery code. */
export type SecondFactor = { code: string } | { recoveryCode: string };

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One HTTP call of the API. */
export interface Call {
  method: Method;
  path: string;
  body?: Record<string, unknown> | undefined;
  query?: Record<string, string | number | undefined> | undefined;
  /** Authenticated (the token, the cookie or the key): a 401 then refreshes once and retries once. */
  auth?: boolean;
  /** A call that answers a TokenResponse: in cookie mode it carries `auth_mode: "cookie"`. */
  signIn?: boolean;
}

type Mode = 'token' | 'cookie' | 'key';

const CSRF_COOKIES = ['__Host-gh_csrf', 'gh_csrf'];
const CSRF_HEADER = 'x-csrf-token';
/** The longest timer JavaScript can set. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A Gatehouse client: sign-in of every kind, the account, sessions that refresh themselves (once
 * across tabs), and sign-out pushed over a WebSocket. Made by `createClient`.
 */
export class GatehouseClient {
  /** The admin API (role `admin`, or a client made with a project's secret key). */
  readonly admin: AdminApi;
  readonly #url: string;
  readonly #options: ClientOptions;
  readonly #mode: Mode;
  readonly #storage: TokenStorage;
  readonly #tabs: TabChannel;
  readonly #exclusive: Exclusive;
  readonly #realtime: Realtime | null;
  readonly #clock: () => number;
  readonly #marginMs: number;
  readonly #authListeners = new Set<(user: User | null) => void>();
  readonly #eventListeners = new Set<(event: RealtimeEvent) => void>();
  readonly #statusListeners = new Set<(status: RealtimeStatus) => void>();
  readonly #unsubscribe: (() => void)[] = [];
  /** Token mode: the stored session as last read (undefined: not read yet). */
  #session: StoredSession | null | undefined;
  /** Cookie and key modes: what the client knows of its session. */
  #known: { user: User | null; expiresAt: number | null; sessionId: string | null; signedIn: boolean } = {
    user: null,
    expiresAt: null,
    sessionId: null,
    signedIn: false,
  };
  #refreshing: Promise<boolean> | null = null;
  /** Cookie mode: refreshes of the shared cookies, by this tab or another. */
  #cookieRefreshes = 0;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #lastEmitted: string | undefined;
  #closed = false;

  constructor(options: ClientOptions) {
    if (!options.url) throw new TypeError('createClient: `url` is required');
    this.#options = options;
    this.#url = options.url.replace(/\/+$/, '');
    this.#clock = options.clock ?? Date.now;
    this.#marginMs = (options.refreshMarginSeconds ?? 60) * 1000;
    this.#mode = options.apiKey ? 'key' : options.storage === 'cookie' ? 'cookie' : 'token';
    this.#storage = storageOf(options.storage);
    // The tabs that share this session: every tab's localStorage (or cookie jar) of this server.
    const shared = this.#mode === 'cookie' ? `cookie:${this.#url}` : sharedName(this.#storage);
    this.#tabs = new TabChannel(this.#mode === 'key' ? null : `gatehouse:${shared}`);
    const locks =
      options.locks !== undefined
        ? options.locks
        : ((globalThis as unknown as { navigator?: { locks?: LockManagerLike } }).navigator?.locks ?? null);
    this.#exclusive = exclusive(`gatehouse-refresh:${shared}`, locks, this.#tabs);
    this.#unsubscribe.push(this.#tabs.on((message) => void this.#hear(message)));
    if (this.#mode === 'token' && this.#storage.subscribe) {
      this.#unsubscribe.push(
        this.#storage.subscribe((key) => {
          if (key === SESSION_KEY) void this.#reconcile();
        }),
      );
    }
    const realtime = options.realtime ?? true;
    this.#realtime =
      realtime && this.#mode !== 'key'
        ? new Realtime({
            url: this.#url,
            WebSocket: options.WebSocket,
            // A browser's socket names no project: the server reads it from the token's audience.
            headers: this.#upgradeHeaders(),
            prepare: () => this.#prepareSocket(),
            onEvent: (event) => this.#dispatch(event),
            onSessionEnded: (reason) => void this.#signedOut(reason),
            onStatus: (status) => {
              for (const listener of [...this.#statusListeners]) listener(status);
            },
            reconnect: options.reconnect,
            ping: options.ping,
          })
        : null;
    this.admin = new AdminApi((call) => this.request(call));
    if (this.#mode === 'key') this.#known.signedIn = true;
    // A synchronous storage (localStorage, memory) is read at once, so the first render knows.
    if (this.#mode === 'token') {
      const raw = this.#storage.get(SESSION_KEY);
      if (!isPromise(raw)) this.#session = parseSession(raw);
    }
  }

  // ---------------------------------------------------------------- state

  /** True while the client holds a session (or an API key). After restoreSession(), as the server said. */
  isAuthenticated(): boolean {
    if (this.#mode === 'token') return Boolean(this.#session);
    return this.#known.signedIn;
  }

  /** The signed-in user as last seen, without a request; null when signed out. */
  getCachedUser(): User | null {
    if (this.#mode === 'token') return this.#session?.user ?? null;
    return this.#known.user;
  }

  /** Calls `listener` with the user at every sign-in and change, and with null at sign-out (in every tab). */
  onAuthChange(listener: (user: User | null) => void): () => void {
    this.#authListeners.add(listener);
    return () => this.#authListeners.delete(listener);
  }

  /** Every event of the realtime channel (session_revoked, sessions_purged, password_changed, pong, ...). */
  onEvent(listener: (event: RealtimeEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** The realtime socket's state: connecting, open, reconnecting, stopped. */
  onRealtimeStatus(listener: (status: RealtimeStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  get realtimeStatus(): RealtimeStatus {
    return this.#realtime?.status ?? 'stopped';
  }

  /** The current access token (refreshed first when it is about to expire); null when signed out or in cookie mode. */
  async getAccessToken(): Promise<string | null> {
    if (this.#mode !== 'token') return null;
    return this.#accessToken();
  }

  /**
   * At page load: reads the stored session, checks it with the server (refreshing it when
   * needed), connects the realtime socket, and answers the user, or null when signed out.
   * Offline, it keeps the stored session and answers the stored user.
   */
  async restoreSession(): Promise<User | null> {
    if (this.#mode === 'token') {
      const stored = await this.#load();
      if (!stored) {
        this.#emit(null);
        return null;
      }
    }
    try {
      if (this.#mode === 'cookie') await this.getSession();
      const user = await this.me();
      this.#live();
      return user;
    } catch (err) {
      if (GatehouseError.is(err) && err.status === 401) {
        await this.#signedOut('restore_refused');
        return null;
      }
      if (GatehouseError.is(err) && (err.code === 'network_error' || err.status >= 500)) {
        const user = this.getCachedUser();
        if (this.isAuthenticated()) {
          this.#emit(user);
          this.#live();
        }
        return user;
      }
      throw err;
    }
  }

  /** Refreshes the session now (once across tabs: another tab's fresh tokens are used if there are some). */
  async refreshSession(): Promise<boolean> {
    if (this.#mode === 'key') return true;
    const stale = this.#mode === 'token' ? ((await this.#load())?.access_token ?? null) : this.#cookieGeneration();
    if (this.#mode === 'token' && stale === null) return false;
    return this.#refresh({ force: true, stale });
  }

  /**
   * Polls GET /auth/session every `intervalMs` (30 s), refreshing when needed; a session found
   * ended signs the client out (onAuthChange(null)). A fallback where no WebSocket gets through.
   */
  startSessionWatch(options: { intervalMs?: number } = {}): () => void {
    const interval = options.intervalMs ?? 30_000;
    let stopped = false;
    const check = async () => {
      if (stopped || !this.isAuthenticated()) return;
      try {
        await this.getSession();
      } catch (err) {
        if (GatehouseError.is(err) && err.status === 401 && !stopped) await this.#signedOut('session_ended');
      }
    };
    const timer = unref(setInterval(() => void check(), interval));
    void check();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /** Stops the socket, the timers and the tab channel (the session stays stored). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    this.#realtime?.stop();
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#tabs.close();
  }

  // ---------------------------------------------------------------- sign-up and sign-in

  async register(input: {
    email: string;
    password: string;
    name?: string;
    metadata?: Record<string, unknown>;
    /** Where the verification email's link leads (allow-listed). */
    redirectTo?: string;
  }): Promise<User> {
    const body: Static<typeof RegisterBody> = {
      email: input.email,
      password: input.password,
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      ...(input.redirectTo !== undefined ? { redirect_to: input.redirectTo } : {}),
    };
    const res = await this.request<TokenResponse>({ method: 'POST', path: '/auth/register', body, signIn: true });
    return this.#signedIn(res);
  }

  /** Email and password: signed in, or the MFA challenge to complete with verifyMfa. */
  async login(input: { email: string; password: string }): Promise<SignInResult> {
    const body: Static<typeof LoginBody> = { email: input.email, password: input.password };
    return this.#firstFactor(
      await this.request<TokenResponse | MfaChallenge>({ method: 'POST', path: '/auth/login', body, signIn: true }),
    );
  }

  /** Completes an MFA challenge with a TOTP code or a recovery code. */
  async verifyMfa(challenge: MfaChallenge | string, factor: SecondFactor): Promise<User> {
    const body: Static<typeof LoginMfaBody> = {
      mfa_token: typeof challenge === 'string' ? challenge : challenge.mfa_token,
      ...('code' in factor ? { code: factor.code } : { recovery_code: factor.recoveryCode }),
    };
    const res = await this.request<TokenResponse>({ method: 'POST', path: '/auth/login/mfa', body, signIn: true });
    return this.#signedIn(res);
  }

  /** Completes an MFA challenge with a passkey (browser): when `methods` has `webauthn`. */
  async verifyMfaWithPasskey(challenge: MfaChallenge | string, options: { signal?: AbortSignal } = {}): Promise<User> {
    const mfaToken = typeof challenge === 'string' ? challenge : challenge.mfa_token;
    const requestOptions = await this.request<WebAuthnJSON>({
      method: 'POST',
      path: '/auth/passkeys/login/options',
      body: { mfa_token: mfaToken },
    });
    const webauthn = await getPasskeyCredential(requestOptions, options);
    const body: Static<typeof LoginMfaBody> = { mfa_token: mfaToken, webauthn };
    const res = await this.request<TokenResponse>({ method: 'POST', path: '/auth/login/mfa', body, signIn: true });
    return this.#signedIn(res);
  }

  /** Mails a sign-in link (202 for any address). */
  async requestMagicLink(email: string, options: { redirectTo?: string } = {}): Promise<void> {
    const body: Static<typeof MagicLinkBody> = { email, ...redirect(options.redirectTo) };
    await this.request({ method: 'POST', path: '/auth/magic-link', body });
  }

  /** The link's token: signed in (the account is made on first use), or the MFA challenge. */
  async verifyMagicLink(token: string): Promise<SignInResult> {
    return this.#firstFactor(
      await this.request<TokenResponse | MfaChallenge>({
        method: 'POST',
        path: '/auth/magic-link/verify',
        body: { token },
        signIn: true,
      }),
    );
  }

  /** A guest account (role `guest`, no email): upgrade it later with convertGuest. */
  async signInAsGuest(options: { name?: string } = {}): Promise<User> {
    const body: Static<typeof GuestBody> = options.name !== undefined ? { name: options.name } : {};
    const res = await this.request<TokenResponse>({ method: 'POST', path: '/auth/guest', body, signIn: true });
    return this.#signedIn(res);
  }

  /** Turns the signed-in guest into a user with an email and password (same user id). */
  async convertGuest(input: { email: string; password: string; name?: string }): Promise<User> {
    const body: Static<typeof GuestConvertBody> = {
      email: input.email,
      password: input.password,
      ...(input.name !== undefined ? { name: input.name } : {}),
    };
    const res = await this.request<TokenResponse>({
      method: 'POST',
      path: '/auth/guest/convert',
      body,
      auth: true,
      signIn: true,
    });
    return this.#signedIn(res);
  }

  /** Accepts an admin's invitation (its mailed token): the account is made and signed in. */
  async acceptInvitation(input: { token: string; password: string; name?: string }): Promise<User> {
    const body: Static<typeof InvitationAcceptBody> = {
      token: input.token,
      password: input.password,
      ...(input.name !== undefined ? { name: input.name } : {}),
    };
    const res = await this.request<TokenResponse>({
      method: 'POST',
      path: '/auth/invitations/accept',
      body,
      signIn: true,
    });
    return this.#signedIn(res);
  }

  // ---------------------------------------------------------------- social sign-in

  /** The enabled social providers, for a sign-in page. */
  async getProviders(): Promise<SocialProvider[]> {
    return (await this.request<{ providers: SocialProvider[] }>({ method: 'GET', path: '/auth/providers' })).providers;
  }

  /**
   * Starts a social sign-in: in a browser it sends the page to the provider (unless `navigate`
   * is false); it answers the URL either way. Back at `redirectTo`, pass the `?code=` to
   * exchangeCode (in cookie mode the cookies are set instead: call restoreSession).
   */
  signInWithProvider(provider: string, options: { redirectTo?: string; navigate?: boolean } = {}): string {
    const url = new URL(`${this.#url}/auth/oauth/${encodeURIComponent(provider)}`);
    if (options.redirectTo) url.searchParams.set('redirect_to', options.redirectTo);
    if (this.#mode === 'cookie') url.searchParams.set('auth_mode', 'cookie');
    if (this.#options.publishableKey) url.searchParams.set('project', this.#options.publishableKey);
    if (options.navigate !== false) navigate(url.toString());
    return url.toString();
  }

  /** Trades the one-time `?code=` of a social sign-in's redirect for a session (or the MFA challenge). */
  async exchangeCode(code: string): Promise<SignInResult> {
    return this.#firstFactor(
      await this.request<TokenResponse | MfaChallenge>({
        method: 'POST',
        path: '/auth/oauth/exchange',
        body: { code },
        signIn: true,
      }),
    );
  }

  /** The provider accounts linked to the user. */
  async listIdentities(): Promise<LinkedIdentity[]> {
    return (
      await this.request<{ identities: LinkedIdentity[] }>({ method: 'GET', path: '/auth/identities', auth: true })
    ).identities;
  }

  /** Links a provider to the signed-in user: opens (or answers) the provider's URL. */
  async linkProvider(
    provider: string,
    options: { redirectTo?: string; navigate?: boolean } & StepUp = {},
  ): Promise<string> {
    const body: Static<typeof LinkIdentityBody> = {
      ...redirect(options.redirectTo),
      ...stepUpOf(options),
    };
    const { url } = await this.request<{ url: string }>({
      method: 'POST',
      path: `/auth/identities/${encodeURIComponent(provider)}/link`,
      body,
      auth: true,
    });
    if (options.navigate !== false) navigate(url);
    return url;
  }

  async unlinkIdentity(id: string, stepUp: StepUp = {}): Promise<void> {
    await this.request({ method: 'DELETE', path: `/auth/identities/${id}`, body: stepUpOf(stepUp), auth: true });
  }

  // ---------------------------------------------------------------- passkeys (browser)

  /** Adds a passkey to the signed-in user: the browser's prompt, then the server's check. */
  async registerPasskey(options: { name?: string; signal?: AbortSignal } & StepUp = {}): Promise<CreatedPasskey> {
    const creation = await this.request<WebAuthnJSON>({
      method: 'POST',
      path: '/auth/passkeys/register/options',
      body: stepUpOf(options),
      auth: true,
    });
    const response = await createPasskeyCredential(creation, options.signal ? { signal: options.signal } : {});
    return this.request<CreatedPasskey>({
      method: 'POST',
      path: '/auth/passkeys/register/verify',
      body: { response, ...(options.name !== undefined ? { name: options.name } : {}) },
      auth: true,
    });
  }

  /** Signs in with a passkey (with `email`, that account's passkeys; without, a discoverable one). */
  async signInWithPasskey(
    options: { email?: string; signal?: AbortSignal; mediation?: 'optional' | 'required' | 'conditional' } = {},
  ): Promise<User> {
    const request = await this.request<WebAuthnJSON & { challenge_id: string }>({
      method: 'POST',
      path: '/auth/passkeys/login/options',
      body: options.email !== undefined ? { email: options.email } : {},
    });
    const response = await getPasskeyCredential(request, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.mediation ? { mediation: options.mediation } : {}),
    });
    const res = await this.request<TokenResponse>({
      method: 'POST',
      path: '/auth/passkeys/login/verify',
      body: { challenge_id: request.challenge_id, response },
      signIn: true,
    });
    return this.#signedIn(res);
  }

  async listPasskeys(): Promise<Passkey[]> {
    return (await this.request<{ passkeys: Passkey[] }>({ method: 'GET', path: '/auth/passkeys', auth: true }))
      .passkeys;
  }

  async deletePasskey(id: string, stepUp: StepUp = {}): Promise<void> {
    await this.request({ method: 'DELETE', path: `/auth/passkeys/${id}`, body: stepUpOf(stepUp), auth: true });
  }

  // ---------------------------------------------------------------- sign-out and sessions

  /** Ends this session (on the server, in every tab). */
  async logout(): Promise<void> {
    if (this.#mode === 'token') await this.#load();
    try {
      if (this.isAuthenticated()) await this.request({ method: 'POST', path: '/auth/logout', auth: true });
    } catch (err) {
      // Already ended on the server: signed out all the same.
      if (!(GatehouseError.is(err) && err.status === 401)) {
        await this.#signedOut('logout');
        throw err;
      }
    }
    await this.#signedOut('logout');
  }

  /** Ends every session of the user, on every device; answers how many. */
  async logoutAll(): Promise<number> {
    const { sessions_revoked } = await this.request<{ sessions_revoked: number }>({
      method: 'POST',
      path: '/auth/logout-all',
      auth: true,
    });
    await this.#signedOut('logout_all');
    return sessions_revoked;
  }

  /** GET /auth/session: the cheap check of the session (refreshing first when needed). */
  async getSession(): Promise<SessionCheck> {
    const { session } = await this.request<{ session: SessionCheck }>({
      method: 'GET',
      path: '/auth/session',
      auth: true,
    });
    if (this.#mode === 'cookie') {
      this.#known.sessionId = session.id;
      this.#known.expiresAt = Date.parse(session.expires_at);
      if (!this.#known.signedIn) this.#known.signedIn = true;
    }
    return session;
  }

  /** The user's sessions; `current` marks this one. */
  async listSessions(): Promise<Session[]> {
    return (await this.request<{ sessions: Session[] }>({ method: 'GET', path: '/auth/sessions', auth: true }))
      .sessions;
  }

  /** Ends one of the user's sessions (this one too: then the client is signed out). */
  async revokeSession(id: string): Promise<void> {
    const own = this.#ownSessionId();
    await this.request({ method: 'DELETE', path: `/auth/sessions/${encodeURIComponent(id)}`, auth: true });
    if (id === own) await this.#signedOut('session_revoked');
  }

  // ---------------------------------------------------------------- account

  /** The signed-in user, fresh from the server (and cached). */
  async me(): Promise<User> {
    const user = await this.request<User>({ method: 'GET', path: '/auth/me', auth: true });
    await this.#setUser(user, false);
    return user;
  }

  /** Changes the name, avatar or metadata. */
  async updateMe(patch: ProfilePatch): Promise<User> {
    const user = await this.request<User>({ method: 'PATCH', path: '/auth/me', body: patch, auth: true });
    await this.#setUser(user, true);
    return user;
  }

  /** Deletes the account (the password; without one, within minutes of a sign-in); signed out everywhere. */
  async deleteAccount(input: { password?: string } = {}): Promise<void> {
    const body: Static<typeof DeleteMeBody> = input.password !== undefined ? { password: input.password } : {};
    await this.request({ method: 'DELETE', path: '/auth/me', body, auth: true });
    await this.#signedOut('account_deleted');
  }

  /** Changes the password; every other session ends, this one lives on. */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    const body: Static<typeof PasswordChangeBody> = { current_password: currentPassword, new_password: newPassword };
    await this.request({ method: 'POST', path: '/auth/password/change', body, auth: true });
  }

  /** Mails a reset link (202 for any address, known or not). */
  async forgotPassword(email: string, options: { redirectTo?: string } = {}): Promise<void> {
    const body: Static<typeof PasswordForgotBody> = { email, ...redirect(options.redirectTo) };
    await this.request({ method: 'POST', path: '/auth/password/forgot', body });
  }

  /** Sets a new password with the mailed token; every session of the account ends. */
  async resetPassword(token: string, password: string): Promise<void> {
    const body: Static<typeof PasswordResetBody> = { token, password };
    await this.request({ method: 'POST', path: '/auth/password/reset', body });
  }

  /** Proves the address with the mailed token; answers the user (`email_verified` true). */
  async verifyEmail(token: string): Promise<User> {
    const user = await this.request<User>({ method: 'POST', path: '/auth/email/verify', body: { token } });
    if (this.getCachedUser()?.id === user.id) await this.#setUser(user, true);
    return user;
  }

  /** Mails the verification link again. */
  async resendVerification(options: { redirectTo?: string } = {}): Promise<void> {
    await this.request({ method: 'POST', path: '/auth/email/resend', body: redirect(options.redirectTo), auth: true });
  }

  // ---------------------------------------------------------------- API keys

  /** A new API key of the user: `key` is in this answer only. */
  async createApiKey(input: { name: string; expiresInDays?: number }): Promise<CreatedApiKey> {
    const body: Static<typeof ApiKeyCreateBody> = {
      name: input.name,
      ...(input.expiresInDays !== undefined ? { expires_in_days: input.expiresInDays } : {}),
    };
    return this.request<CreatedApiKey>({ method: 'POST', path: '/auth/api-keys', body, auth: true });
  }

  async listApiKeys(): Promise<ApiKey[]> {
    return (await this.request<{ api_keys: ApiKey[] }>({ method: 'GET', path: '/auth/api-keys', auth: true })).api_keys;
  }

  async revokeApiKey(id: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/auth/api-keys/${encodeURIComponent(id)}`, auth: true });
  }

  // ---------------------------------------------------------------- second factors

  /** TOTP on or off, passkeys and recovery codes left. */
  async getMfaStatus(): Promise<MfaStatus> {
    return this.request<MfaStatus>({ method: 'GET', path: '/auth/mfa', auth: true });
  }

  /** A new TOTP secret (and its otpauth:// URL for a QR code); enableTotp turns it on. */
  async setupTotp(): Promise<TotpSetup> {
    return this.request<TotpSetup>({ method: 'POST', path: '/auth/mfa/totp/setup', auth: true });
  }

  /** Turns TOTP on with its first code; answers the 10 recovery codes. Every other session ends. */
  async enableTotp(code: string, options: { password?: string } = {}): Promise<string[]> {
    const body: Static<typeof TotpEnableBody> = {
      code,
      ...(options.password !== undefined ? { password: options.password } : {}),
    };
    const res = await this.request<{ recovery_codes: string[] }>({
      method: 'POST',
      path: '/auth/mfa/totp/enable',
      body,
      auth: true,
    });
    return res.recovery_codes;
  }

  /** Turns TOTP off (a TOTP code or a recovery code). */
  async disableTotp(code: string): Promise<void> {
    await this.request({ method: 'POST', path: '/auth/mfa/totp/disable', body: { code }, auth: true });
  }

  /** New recovery codes (a TOTP code or a recovery code); the old ones die. */
  async regenerateRecoveryCodes(code: string): Promise<string[]> {
    const res = await this.request<{ recovery_codes: string[] }>({
      method: 'POST',
      path: '/auth/mfa/recovery-codes',
      body: { code },
      auth: true,
    });
    return res.recovery_codes;
  }

  // ---------------------------------------------------------------- requests

  /**
   * One call of the HTTP API, authenticated when `auth` is set: the access token (refreshed
   * first when about to expire), the cookie, or the API key. A 401 (`unauthorized`,
   * `token_expired`) refreshes once and retries once. Failures are GatehouseErrors.
   */
  async request<T = unknown>(call: Call): Promise<T> {
    const token = call.auth && this.#mode === 'token' ? await this.#accessToken() : null;
    // What the caller had: its token, or in cookie mode the cookies' generation.
    const had = this.#mode === 'cookie' ? this.#cookieGeneration() : token;
    try {
      return await this.#send<T>(call, token);
    } catch (err) {
      const retry =
        call.auth &&
        this.#mode !== 'key' &&
        (this.#mode === 'cookie' || token !== null) &&
        GatehouseError.is(err) &&
        err.status === 401 &&
        (err.code === 'unauthorized' || err.code === 'token_expired');
      if (!retry) throw err;
      if (!(await this.#refresh({ force: true, stale: had }))) throw err;
      const fresh = this.#mode === 'token' ? (this.#session?.access_token ?? null) : null;
      return await this.#send<T>(call, fresh);
    }
  }

  async #send<T>(call: Call, token: string | null): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.#options.headers };
    let body: string | undefined;
    const cookie = this.#mode === 'cookie';
    if (call.body !== undefined || (cookie && call.signIn)) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(cookie && call.signIn ? { ...call.body, auth_mode: 'cookie' } : call.body);
    }
    const key = this.#options.apiKey ?? this.#options.publishableKey;
    if (key) headers['x-api-key'] = key;
    if (token) headers.authorization = `Bearer ${token}`;
    if (cookie && call.method !== 'GET') {
      const csrf = csrfToken();
      if (csrf) headers[CSRF_HEADER] = csrf;
    }
    let url = `${this.#url}${call.path}`;
    if (call.query) {
      const params = new URLSearchParams();
      for (const [name, value] of Object.entries(call.query)) if (value !== undefined) params.set(name, String(value));
      const query = params.toString();
      if (query) url += `?${query}`;
    }
    const init: RequestInit = { method: call.method, headers };
    if (body !== undefined) init.body = body;
    if (cookie) init.credentials = 'include';
    const timeout = this.#options.timeoutMs ?? 30_000;
    if (typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function') {
      init.signal = AbortSignal.timeout(timeout);
    }
    const fetchFn: FetchLike = this.#options.fetch ?? ((input, options) => globalThis.fetch(input, options));
    let res: Response;
    try {
      res = await fetchFn(url, init);
    } catch (err) {
      throw networkError(err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new GatehouseError(res.status, 'internal', 'the server answered something that is not JSON', {
        cause: err,
      });
    }
  }

  // ---------------------------------------------------------------- the session

  async #load(): Promise<StoredSession | null> {
    const raw = await this.#storage.get(SESSION_KEY);
    this.#session = parseSession(raw);
    return this.#session;
  }

  /** When to refresh a session: `margin` before expiry, but never sooner than half its life. */
  #refreshAt(session: StoredSession): number {
    return session.refresh_at ?? session.expires_at - this.#marginMs;
  }

  async #accessToken(): Promise<string | null> {
    const session = await this.#load();
    if (!session) return null;
    if (this.#clock() < this.#refreshAt(session)) return session.access_token;
    if (!(await this.#refresh({ force: false, stale: session.access_token }))) return null;
    return this.#session?.access_token ?? null;
  }

  /**
   * The one refresh of the tab (concurrent callers share it), under the cross-tab lock.
   * `stale`: the access token the caller had; `force`: refresh even if it has not expired (a
   * 401 said it is no good), unless another tab has rotated it meanwhile.
   */
  #refresh(options: { force: boolean; stale: string | null }): Promise<boolean> {
    if (this.#refreshing) return this.#refreshing;
    const run = this.#exclusive(() =>
      this.#mode === 'cookie' ? this.#refreshCookie(options) : this.#refreshToken(options),
    );
    const shared = run.finally(() => {
      if (this.#refreshing === shared) this.#refreshing = null;
    });
    this.#refreshing = shared;
    return shared;
  }

  async #refreshToken(options: { force: boolean; stale: string | null }): Promise<boolean> {
    // Inside the lock, read again: another tab may have rotated the tokens (use them) or signed out.
    const current = await this.#load();
    if (!current) {
      if (this.#lastEmitted !== 'null') await this.#signedOut('signed_out', { broadcast: false, clear: false });
      return false;
    }
    const fresh = this.#clock() < this.#refreshAt(current);
    if (current.access_token !== options.stale && (fresh || options.force)) {
      this.#adopt(current);
      return true;
    }
    if (!options.force && fresh) return true;
    let res: TokenResponse;
    try {
      res = await this.#send<TokenResponse>(
        { method: 'POST', path: '/auth/refresh', body: { refresh_token: current.refresh_token } },
        null,
      );
    } catch (err) {
      if (GatehouseError.is(err) && err.status === 401) {
        // A tab that could not take the lock may have rotated it in the meantime.
        const again = await this.#load();
        if (again && again.refresh_token !== current.refresh_token) {
          this.#adopt(again);
          return true;
        }
        await this.#signedOut(err.code);
        return false;
      }
      throw err;
    }
    await this.#store(res, 'refreshed');
    return true;
  }

  /** Cookie mode: which refresh of the shared cookies this tab knows of (its own and the other tabs'). */
  #cookieGeneration(): string {
    return `cookies:${this.#cookieRefreshes}`;
  }

  async #refreshCookie(options: { force: boolean; stale: string | null }): Promise<boolean> {
    // Inside the lock: a tab that refreshed the shared cookies meanwhile said so (`refreshed`).
    if (options.stale !== this.#cookieGeneration()) return true;
    if (!options.force) {
      // Not asked for (the timer): the session check says until when the cookies hold.
      try {
        const { session } = await this.#send<{ session: SessionCheck }>({ method: 'GET', path: '/auth/session' }, null);
        const expiresAt = Date.parse(session.expires_at);
        this.#known.sessionId = session.id;
        if (this.#clock() < expiresAt - this.#marginMs) {
          this.#known.expiresAt = expiresAt;
          this.#known.signedIn = true;
          this.#scheduleRefresh(expiresAt - this.#marginMs);
          return true;
        }
      } catch (err) {
        if (!(GatehouseError.is(err) && err.status === 401)) throw err;
      }
    }
    let res: TokenResponse;
    try {
      res = await this.#send<TokenResponse>({ method: 'POST', path: '/auth/refresh', body: {}, signIn: true }, null);
    } catch (err) {
      if (GatehouseError.is(err) && err.status === 401) {
        await this.#signedOut(err.code);
        return false;
      }
      throw err;
    }
    await this.#store(res, 'refreshed');
    return true;
  }

  /** Tokens another tab rotated: the socket and the timer take them. */
  #adopt(session: StoredSession): void {
    this.#session = session;
    this.#realtime?.sendAuth(session.access_token);
    this.#scheduleRefresh(this.#refreshAt(session));
  }

  /** A sign-in's answer: the tokens stored (or the cookies set), the tabs told, the socket connected. */
  async #signedIn(res: TokenResponse): Promise<User> {
    await this.#store(res, 'signed_in');
    return res.user;
  }

  #firstFactor(res: TokenResponse | MfaChallenge): Promise<SignInResult> | SignInResult {
    if ('mfa_required' in res && res.mfa_required) return { type: 'mfa_required', challenge: res };
    return this.#signedIn(res as TokenResponse).then((user) => ({ type: 'signed_in', user }) as const);
  }

  async #store(res: TokenResponse, event: 'signed_in' | 'refreshed'): Promise<void> {
    const now = this.#clock();
    const lifetime = res.expires_in * 1000;
    const expiresAt = now + lifetime;
    const refreshAt = expiresAt - Math.min(this.#marginMs, lifetime / 2);
    if (this.#mode === 'token' || this.#mode === 'key') {
      if (!res.access_token || !res.refresh_token) {
        throw new GatehouseError(0, 'internal', 'the sign-in answered no tokens (is the server in cookie mode?)');
      }
      const session: StoredSession = {
        access_token: res.access_token,
        refresh_token: res.refresh_token,
        expires_at: expiresAt,
        refresh_at: refreshAt,
        user: res.user,
      };
      if (this.#mode === 'key') return;
      this.#session = session;
      await this.#storage.set(SESSION_KEY, JSON.stringify(session));
      if (event === 'refreshed') this.#realtime?.sendAuth(session.access_token);
    } else {
      this.#known = {
        user: res.user,
        expiresAt,
        sessionId: event === 'refreshed' ? this.#known.sessionId : null,
        signedIn: true,
      };
      if (event === 'refreshed') this.#cookieRefreshes++;
    }
    this.#tabs.post(
      event === 'signed_in' ? { t: 'signed_in', user: res.user } : { t: 'refreshed', expires_at: expiresAt },
    );
    this.#scheduleRefresh(refreshAt);
    this.#emit(res.user);
    if (event === 'signed_in') this.#restartRealtime();
    else this.#live();
  }

  async #setUser(user: User, tellTabs: boolean): Promise<void> {
    if (this.#mode === 'token') {
      const session = this.#session ?? (await this.#load());
      if (!session) return;
      this.#session = { ...session, user };
      await this.#storage.set(SESSION_KEY, JSON.stringify(this.#session));
    } else {
      this.#known.user = user;
      this.#known.signedIn = true;
    }
    if (tellTabs) this.#tabs.post({ t: 'user', user });
    this.#emit(user);
  }

  /**
   * The session is over: the stored tokens removed, the socket closed, every tab told, and
   * onAuthChange(null). `clear: false` when another tab already removed them.
   */
  async #signedOut(reason: string, options: { broadcast?: boolean; clear?: boolean } = {}): Promise<void> {
    clearTimeout(this.#refreshTimer);
    this.#realtime?.stop();
    if (this.#mode === 'token') {
      this.#session = null;
      if (options.clear !== false) await this.#storage.remove(SESSION_KEY);
    } else if (this.#mode === 'cookie') {
      this.#known = { user: null, expiresAt: null, sessionId: null, signedIn: false };
    }
    if (options.broadcast !== false) this.#tabs.post({ t: 'signed_out', reason });
    this.#emit(null);
  }

  /** Another tab spoke. */
  async #hear(message: TabMessage): Promise<void> {
    if (this.#closed) return;
    if (message.t === 'signed_out') {
      if (this.#mode === 'token') {
        // Unless a new session was stored since (a sign-in in a third tab).
        if (await this.#load()) return this.#reconcile();
      }
      await this.#signedOut(message.reason, { broadcast: false, clear: false });
    } else if (message.t === 'signed_in' || message.t === 'refreshed' || message.t === 'user') {
      if (this.#mode === 'token') return this.#reconcile();
      if (message.t === 'signed_in') {
        this.#known = { user: message.user, expiresAt: null, sessionId: null, signedIn: true };
        this.#emit(message.user);
        this.#restartRealtime();
      } else if (message.t === 'refreshed') {
        this.#cookieRefreshes++;
        this.#known.expiresAt = message.expires_at;
        if (message.expires_at !== null) this.#scheduleRefresh(message.expires_at - this.#marginMs);
      } else {
        this.#known.user = message.user;
        this.#emit(message.user);
      }
    }
  }

  /** Token mode: the stored session changed under us (another tab): follow it. */
  async #reconcile(): Promise<void> {
    if (this.#closed) return;
    const before = this.#session;
    const session = await this.#load();
    if (!session) {
      if (before || this.#lastEmitted !== 'null')
        await this.#signedOut('signed_out', { broadcast: false, clear: false });
      return;
    }
    this.#scheduleRefresh(this.#refreshAt(session));
    this.#emit(session.user);
    const sid = jwtClaims(session.access_token)?.sid;
    if (this.#realtime && (this.#realtime.status === 'stopped' || this.#realtime.sessionId !== sid)) {
      this.#restartRealtime();
    } else {
      this.#realtime?.sendAuth(session.access_token);
    }
  }

  #scheduleRefresh(at: number): void {
    clearTimeout(this.#refreshTimer);
    if (this.#closed || this.#mode === 'key') return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(1000, at - this.#clock()));
    this.#refreshTimer = unref(
      setTimeout(() => {
        void this.#refresh({
          force: false,
          stale: this.#mode === 'token' ? (this.#session?.access_token ?? null) : this.#cookieGeneration(),
        }).catch(() => {
          // Offline: the next call (or the socket's reconnect) tries again.
        });
      }, delay),
    );
  }

  /** Signed in: keep the socket (and the timer) going. */
  #live(): void {
    if (this.#closed || !this.isAuthenticated()) return;
    this.#realtime?.start();
    if (this.#mode === 'token' && this.#session) this.#scheduleRefresh(this.#refreshAt(this.#session));
  }

  #restartRealtime(): void {
    if (this.#closed || !this.#realtime) return;
    this.#realtime.stop();
    this.#realtime.start();
  }

  #ownSessionId(): string | null {
    if (this.#mode === 'token') {
      const sid = this.#session ? jwtClaims(this.#session.access_token)?.sid : undefined;
      return typeof sid === 'string' ? sid : null;
    }
    return this.#known.sessionId;
  }

  /** Before every (re)connect: the session checked with the server, refreshed if needed. */
  async #prepareSocket(): Promise<Connection | null> {
    if (this.#closed || !this.isAuthenticated()) return null;
    let session: SessionCheck;
    try {
      session = await this.getSession();
    } catch (err) {
      if (GatehouseError.is(err) && err.status === 401) {
        await this.#signedOut('session_ended');
        return null;
      }
      throw err;
    }
    if (this.#mode === 'cookie') return { protocols: undefined, sessionId: session.id };
    const token = this.#session?.access_token;
    if (!token) return null;
    return { protocols: [REALTIME_PROTOCOL, token], sessionId: session.id };
  }

  #upgradeHeaders(): Record<string, string> {
    // Only a WebSocket that takes headers (`ws`, in Node) sends these; a browser sends cookies.
    const headers: Record<string, string> = {};
    if (this.#options.publishableKey) headers['x-api-key'] = this.#options.publishableKey;
    for (const [name, value] of Object.entries(this.#options.headers ?? {})) {
      if (name.toLowerCase() === 'x-forwarded-for' || name.toLowerCase() === 'user-agent') headers[name] = value;
    }
    return headers;
  }

  #dispatch(event: RealtimeEvent): void {
    for (const listener of [...this.#eventListeners]) safely(() => listener(event));
  }

  #emit(user: User | null): void {
    const key = user === null ? 'null' : JSON.stringify(user);
    if (key === this.#lastEmitted) return;
    this.#lastEmitted = key;
    for (const listener of [...this.#authListeners]) safely(() => listener(user));
  }
}

/** Makes a client. See ClientOptions. */
export function createClient(options: ClientOptions): GatehouseClient {
  return new GatehouseClient(options);
}

function storageOf(option: ClientOptions['storage']): TokenStorage {
  if (option === undefined) {
    const hasLocal = typeof (globalThis as unknown as { localStorage?: unknown }).localStorage === 'object';
    return hasLocal ? localStorageAdapter() : memoryStorage();
  }
  if (option === 'memory' || option === 'cookie') return memoryStorage();
  if (option === 'localStorage') return localStorageAdapter();
  return option;
}

/** The name of a storage, for the tabs that share it: its own, else one given to this object. */
const names = new WeakMap<TokenStorage, string>();
function sharedName(storage: TokenStorage): string {
  if (storage.name) return storage.name;
  let name = names.get(storage);
  if (!name) {
    name = `storage:${Math.random().toString(36).slice(2)}`;
    names.set(storage, name);
  }
  return name;
}

function csrfToken(): string | undefined {
  const cookie = (globalThis as unknown as { document?: { cookie?: string } }).document?.cookie;
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    if (CSRF_COOKIES.includes(name)) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function navigate(url: string): void {
  const location = (globalThis as unknown as { location?: { assign?(url: string): void } }).location;
  if (typeof location?.assign === 'function') location.assign(url);
}

const redirect = (redirectTo: string | undefined) => (redirectTo !== undefined ? { redirect_to: redirectTo } : {});

function stepUpOf(input: StepUp): StepUp {
  return {
    ...(input.password !== undefined ? { password: input.password } : {}),
    ...(input.code !== undefined ? { code: input.code } : {}),
  };
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    const report = (globalThis as unknown as { reportError?: (err: unknown) => void }).reportError;
    if (report) report(err);
    else console.error(err);
  }
}
