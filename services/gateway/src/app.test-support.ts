import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_PROJECT_ID,
  type Jwk,
  type RequestOf,
  type ResponseOf,
  type Role,
  type UserRecord,
} from '@gatehouse/contracts';
import {
  AppError,
  Bus,
  type Config,
  createLogger,
  InProcessTransport,
  loadConfig,
  type MessageContext,
  type RequestSubjectName,
} from '@gatehouse/kit';
import { RecordingAuditSink } from '@gatehouse/kit/testing';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
// Test support only: the gateway on an in-process bus, with nothing or with stand-in services behind it.
import type { ProfileCache } from './account/profile-cache.ts';
import { buildGateway, MemoryRateLimitStore } from './app.ts';
import type { RevocationSet } from './auth/revocations.ts';
import type { ProjectDirectory } from './projects/project-directory.ts';
import type { RealtimeHub } from './realtime/realtime-hub.ts';

/** A gateway whose every bus request fails fast (200 ms): the edge's own behaviour, for `inject`. */
export async function bareGateway(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const log = createLogger({ service: 'test', level: 'silent' });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 200 });
  const { app } = await buildGateway({
    bus,
    log,
    config: loadConfig(env),
    rateLimitStore: new MemoryRateLimitStore(),
    audit: new RecordingAuditSink(),
  });
  return app;
}

/** A verified user with a password in the default project, as identity would answer it: for stand-in identity handlers. */
export function userRecord(email: string, fields: Partial<UserRecord> = {}): UserRecord {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    project_id: '00000000-0000-7000-8000-000000000001',
    email,
    email_verified: true,
    name: null,
    avatar_url: null,
    role: 'user',
    metadata: {},
    mfa_enabled: false,
    created_at: now,
    updated_at: now,
    banned: false,
    has_password: true,
    ...fields,
  };
}

/** A guest, as identity.guest.create answers it: no email, no password, role `guest`. */
export function guestRecord(fields: Partial<UserRecord> = {}): UserRecord {
  return userRecord('', { email: null, email_verified: false, role: 'guest', has_password: false, ...fields });
}

/** A stand-in for the service that serves `S`, as `bus.serve` takes it. */
export type StandIn<S extends RequestSubjectName> = (data: RequestOf<S>, ctx: MessageContext) => Promise<ResponseOf<S>>;
/** Stand-ins by subject; the gateway's calls to any other subject fail (`service_unavailable`). */
export type StandIns = { [S in RequestSubjectName]?: StandIn<S> };

/** One request a stand-in received: what reached it, the request id it carried, and how it answered. */
export interface BusCall {
  subject: RequestSubjectName;
  data: unknown;
  requestId: string;
  answer?: unknown;
  error?: string;
}

/** What the gateway would read from an access token, to sign one for a test. */
export interface TestClaims {
  sub: string;
  sid: string;
  role?: Role;
  amr?: string[];
  /** The token's project (`aud`); the default project when absent. */
  aud?: string;
  /** Seconds the token lives (negative: expired that long ago); ACCESS_TOKEN_TTL when absent. */
  ttl?: number;
}

export interface StandInGateway {
  app: FastifyInstance;
  config: Config;
  /** Every request the stand-ins received, in order (the JWKS load of the token verifier excepted). */
  calls: BusCall[];
  /** What reached `subject`'s stand-in, in order. */
  callsTo<S extends RequestSubjectName>(subject: S): RequestOf<S>[];
  /** What `subject`'s stand-in answered, in order (the calls it refused left out). */
  answersOf<S extends RequestSubjectName>(subject: S): ResponseOf<S>[];
  /** The gateway's log lines at warn and above, parsed. */
  logs: Record<string, unknown>[];
  /** An access token as the session service signs it, with a key this gateway trusts. */
  sign(claims: TestClaims): Promise<string>;
  /** The gateway's project directory (empty: only the default project, with the instance's settings). */
  projects: ProjectDirectory;
  /** Every audit event the gateway recorded, in order. */
  audit: RecordingAuditSink;
  /** The realtime sockets (the events the bus would bring are fed to it by the test). */
  realtime: RealtimeHub;
  revocations: RevocationSet;
  /** The profile cache (the user events, which no stand-in sends, would drop its entries). */
  profiles: ProfileCache;
  close(): Promise<void>;
}

export const TEST_PUBLIC_URL = 'http://gatehouse.test';
const KID = 'test-key';
type SigningKey = { jwk: Jwk; privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'] };
let signingKey: Promise<SigningKey> | undefined;

/** One ES256 key for every stand-in session service of the process (generated once). */
function testSigningKey(): Promise<SigningKey> {
  signingKey ??= (async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const { kty, crv, x, y } = await exportJWK(publicKey);
    return { jwk: { kty: kty as string, kid: KID, alg: 'ES256', use: 'sig', crv, x, y }, privateKey };
  })();
  return signingKey;
}

/**
 * The gateway on an in-process bus with `standIns` behind it, every call they
 * receive recorded. Unless a test gives its own, a session service stands in
 * for `session.jwks.get`, `session.session.create` (a real ES256 access token
 * for the user, with the session's id as `sid`; the refresh token `rt-<sid>`)
 * and `session.session.revoke`. The keys are loaded before it is returned, so
 * the calls recorded are the routes' alone. `env` as `loadConfig` reads it;
 * PUBLIC_URL defaults to TEST_PUBLIC_URL.
 */
export async function gatewayWith(standIns: StandIns, env: Record<string, string> = {}): Promise<StandInGateway> {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({
    service: 'test',
    level: 'warn',
    destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 2000 });
  const config = loadConfig({ PUBLIC_URL: TEST_PUBLIC_URL, ...env });
  const { jwk, privateKey } = await testSigningKey();
  const sign = ({ sub, sid, role = 'user', amr = ['pwd'], aud = DEFAULT_PROJECT_ID, ttl }: TestClaims) =>
    new SignJWT({ sid, role, amr, auth_time: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'JWT' })
      .setIssuer(config.publicUrl)
      .setAudience(aud)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (ttl ?? config.accessTokenTtl))
      .sign(privateKey);
  const sessionService: StandIns = {
    'session.jwks.get': async () => ({ keys: [jwk] }),
    'session.session.create': async (m) => {
      const sid = randomUUID();
      return {
        access_token: await sign({ sub: m.user_id, sid, role: m.role, amr: m.amr }),
        expires_in: config.accessTokenTtl,
        refresh_token: `rt-${sid}`,
        session_id: sid,
      };
    },
    'session.session.revoke': async () => ({}),
  };
  const calls: BusCall[] = [];
  for (const [name, handler] of Object.entries({ ...sessionService, ...standIns })) {
    const subject = name as RequestSubjectName;
    const serve = handler as (data: unknown, ctx: MessageContext) => Promise<unknown>;
    const recorded = async (data: unknown, ctx: MessageContext) => {
      if (subject === 'session.jwks.get') return serve(data, ctx);
      const call: BusCall = { subject, data, requestId: ctx.requestId };
      calls.push(call);
      try {
        call.answer = await serve(data, ctx);
        return call.answer;
      } catch (err) {
        call.error = err instanceof AppError ? err.code : String(err);
        throw err;
      }
    };
    bus.serve(subject, recorded as never);
  }
  const audit = new RecordingAuditSink();
  const { app, verifier, projects, realtime, revocations, profiles } = await buildGateway({
    bus,
    log,
    config,
    rateLimitStore: new MemoryRateLimitStore(),
    audit,
  });
  await verifier.refreshKeys();
  return {
    app,
    config,
    calls,
    callsTo: <S extends RequestSubjectName>(subject: S) =>
      calls.filter((c) => c.subject === subject).map((c) => c.data as RequestOf<S>),
    answersOf: <S extends RequestSubjectName>(subject: S) =>
      calls.filter((c) => c.subject === subject && c.error === undefined).map((c) => c.answer as ResponseOf<S>),
    logs,
    sign,
    projects,
    audit,
    realtime,
    revocations,
    profiles,
    close: () => app.close(),
  };
}

/** Runs `run` against a `gatewayWith(standIns, env)`, closed afterwards whatever happens. */
export async function withGateway(
  standIns: StandIns,
  run: (gw: StandInGateway) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const gw = await gatewayWith(standIns, env);
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

/** The status GET /auth/session answers for `token`: whether this gateway admits it. */
export async function sessionCheck(app: FastifyInstance, token: string): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/auth/session', headers: { authorization: `Bearer ${token}` } });
  return res.statusCode;
}

/** The cookies a response sets, by name: each one's whole Set-Cookie line. */
export function cookiesOf(res: { headers: Record<string, unknown> }): Record<string, string> {
  const lines = [res.headers['set-cookie'] ?? []].flat() as string[];
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line]));
}

/** The public User object's fields: all a sign-in answers about the user (no project, ban or password flag). */
export const USER_FIELDS = [
  'avatar_url',
  'created_at',
  'email',
  'email_verified',
  'id',
  'metadata',
  'mfa_enabled',
  'name',
  'role',
  'updated_at',
];

/** A route to send, as `inject` takes it. */
export interface TestRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  payload?: object;
}

/**
 * Asserts the admin API's door on every route: 401 `unauthorized` without
 * credentials, 403 `forbidden` for a signed-in user and a guest, and that no
 * service heard of any of it.
 */
export async function assertAdminOnly(gw: StandInGateway, routes: readonly TestRoute[]): Promise<void> {
  const user = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'user' });
  const guest = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'guest' });
  for (const route of routes) {
    const anonymous = await gw.app.inject(route);
    assert.equal(anonymous.statusCode, 401, `${route.method} ${route.url}`);
    assert.equal(anonymous.json().error, 'unauthorized');
    for (const token of [user, guest]) {
      const res = await gw.app.inject({ ...route, headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.statusCode, 403, `${route.method} ${route.url}`);
      assert.deepEqual(res.json(), { error: 'forbidden', message: 'this needs an admin' });
    }
  }
  assert.deepEqual(gw.calls, []);
}
