// Test support only: the gateway alone on an in-process bus with nothing behind it.
import { randomUUID } from 'node:crypto';
import type { UserRecord } from '@gatehouse/contracts';
import { Bus, createLogger, InProcessTransport, loadConfig } from '@gatehouse/kit';
import type { FastifyInstance } from 'fastify';
import { buildGateway, MemoryRateLimitStore } from './app.ts';

/** A gateway whose every bus request fails fast (200 ms): the edge's own behaviour, for `inject`. */
export async function bareGateway(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const log = createLogger({ service: 'test', level: 'silent' });
  const bus = new Bus(new InProcessTransport(), log, { timeoutMs: 200 });
  const { app } = await buildGateway({ bus, log, config: loadConfig(env), rateLimitStore: new MemoryRateLimitStore() });
  return app;
}

/** A verified user with a password in the default project, as identity would answer it: for stand-in identity handlers. */
export function userRecord(email: string): UserRecord {
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
  };
}
