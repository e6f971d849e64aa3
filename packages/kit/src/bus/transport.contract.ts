import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { AppError } from '../errors.ts';
import { Bus } from './bus.ts';
import type { Transport } from './transport.ts';

const quiet = pino({ level: 'silent' });
const UUID = '0190f5a0-0000-7000-8000-000000000001';

/**
 * The behaviour every transport must show, run against each implementation:
 * request/reply with validation on both ends, errors that travel with their
 * code, queue groups that spread requests, fan-out events, timeouts that fail
 * fast with `service_unavailable`.
 */
export function transportContract(
  name: string,
  open: () => Promise<Transport>,
  /**
   * `n` "processes" of a fresh bus of their own, for the tests that stop or close them: NATS
   * connections, or one new in-process switchboard shared by all (as in embedded mode).
   */
  openGroup: (n: number) => Promise<Transport[]> = (n) => Promise.all(Array.from({ length: n }, open)),
): void {
  describe(`${name} transport contract`, () => {
    let a: Transport;
    let b: Transport;
    let busA: Bus;
    let busB: Bus;

    before(async () => {
      a = await open();
      b = await open();
      busA = new Bus(a, quiet, { timeoutMs: 1000 });
      busB = new Bus(b, quiet, { timeoutMs: 1000 });
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    test('a request gets the reply of the service that serves it', async () => {
      busB.serve('session.session.list', async ({ user_id }) => ({
        sessions: [
          {
            id: UUID,
            user_id,
            created_at: new Date(0).toISOString(),
            last_used_at: new Date(0).toISOString(),
            expires_at: new Date(0).toISOString(),
            ip: null,
            user_agent: null,
            amr: ['pwd'],
          },
        ],
      }));
      await settle(b);
      const { sessions } = await busA.request('session.session.list', { user_id: UUID });
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0]?.user_id, UUID);
    });

    test("a request-scoped bus hands its request's id to the handler, on every call", async () => {
      const seen: string[] = [];
      busB.serve('mfa.status.get', async (_data, { requestId }) => {
        seen.push(requestId);
        return { totp: false, passkeys: 0, recovery_codes_left: 0 };
      });
      await settle(b);
      const scoped = busA.for('req-7f3a');
      await scoped.request('mfa.status.get', { project_id: UUID, user_id: UUID });
      await scoped.request('mfa.status.get', { project_id: UUID, user_id: UUID }, { timeoutMs: 500 });
      await busA.request('mfa.status.get', { project_id: UUID, user_id: UUID });
      assert.deepEqual(seen.slice(0, 2), ['req-7f3a', 'req-7f3a']);
      assert.notEqual(seen[2], 'req-7f3a', 'an unscoped request gets an id of its own');
    });

    test('an error thrown by the handler reaches the caller with its code', async () => {
      busB.serve('identity.user.get', async () => {
        throw new AppError('not_found', 'no such user');
      });
      await settle(b);
      await assert.rejects(busA.request('identity.user.get', { project_id: UUID, user_id: UUID }), (err) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'not_found');
        assert.equal(err.message, 'no such user');
        return true;
      });
    });

    test('an unexpected error is answered as internal, without its message', async () => {
      busB.serve('identity.health.check', async () => {
        throw new Error('SELECT secret FROM users');
      });
      await settle(b);
      await assert.rejects(busA.request('identity.health.check', {}), (err) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'internal');
        assert.doesNotMatch(err.message, /SELECT/);
        return true;
      });
    });

    test('the caller refuses to send a request its schema rejects', async () => {
      await assert.rejects(
        busA.request('identity.user.get', { project_id: 'nope', user_id: UUID }),
        (err) => err instanceof AppError && err.code === 'validation_failed',
      );
    });

    test('a reply that breaks its schema is refused by the caller', async () => {
      // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong reply
      busB.serve('mfa.health.check', async () => ({ ok: 'yes' }) as any);
      await settle(b);
      await assert.rejects(
        busA.request('mfa.health.check', {}),
        (err) => err instanceof AppError && err.code === 'validation_failed',
      );
    });

    test('a subject nobody serves fails fast with service_unavailable', async () => {
      const started = Date.now();
      await assert.rejects(
        busA.request('mailer.health.check', {}, { timeoutMs: 300 }),
        (err) => err instanceof AppError && err.code === 'service_unavailable',
      );
      assert.ok(Date.now() - started < 2000);
    });

    test('a handler slower than the timeout gives service_unavailable, not a hang', async () => {
      busB.serve('session.health.check', () => new Promise((r) => setTimeout(() => r({ ok: true }), 1500)));
      await settle(b);
      await assert.rejects(
        busA.request('session.health.check', {}, { timeoutMs: 200 }),
        (err) => err instanceof AppError && err.code === 'service_unavailable',
      );
    });

    test('requests are spread over the members of a queue group', async () => {
      const seen: string[] = [];
      busA.serve('session.jwks.get', async () => {
        seen.push('a');
        return { keys: [] };
      });
      busB.serve('session.jwks.get', async () => {
        seen.push('b');
        return { keys: [] };
      });
      await settle(a);
      await settle(b);
      for (let i = 0; i < 40; i++) await busA.request('session.jwks.get', {});
      assert.equal(seen.length, 40, 'each request is handled exactly once');
      assert.ok(seen.includes('a') && seen.includes('b'), `both members served: ${seen.join('')}`);
    });

    test('an event reaches every plain subscriber and one member of a queue', async () => {
      const got: string[] = [];
      busA.subscribe('events.keys.rotated', (e) => void got.push(`a:${e.kid}`));
      busB.subscribe('events.keys.rotated', (e) => void got.push(`b:${e.kid}`));
      busA.subscribe('events.keys.rotated', (e) => void got.push(`q:${e.kid}`), { queue: 'mailer' });
      busB.subscribe('events.keys.rotated', (e) => void got.push(`q:${e.kid}`), { queue: 'mailer' });
      await settle(a);
      await settle(b);
      await busA.publish('events.keys.rotated', { v: 1, kid: 'k1' });
      await waitFor(() => got.length >= 3);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(got.sort(), ['a:k1', 'b:k1', 'q:k1']);
    });

    test('stopServing answers the requests in hand, then takes no new one; events still publish', async () => {
      const [caller, server] = (await openGroup(2)) as [Transport, Transport];
      try {
        const callerBus = new Bus(caller, quiet, { timeoutMs: 2000 });
        const serverBus = new Bus(server, quiet, { timeoutMs: 2000 });
        const order: string[] = [];
        serverBus.serve('mailer.health.check', async () => {
          await new Promise((r) => setTimeout(r, 300));
          order.push('answered');
          return { ok: true };
        });
        await settle(server);
        const inHand = callerBus.request('mailer.health.check', {});
        await new Promise((r) => setTimeout(r, 100));
        const stopped = server.stopServing().then(() => order.push('stopped'));
        assert.deepEqual(await inHand, { ok: true }, 'the request in hand is answered');
        await stopped;
        assert.deepEqual(order, ['answered', 'stopped']);
        await assert.rejects(
          callerBus.request('mailer.health.check', {}, { timeoutMs: 500 }),
          (err) => err instanceof AppError && err.code === 'service_unavailable',
          'no new request is taken',
        );
        await serverBus.publish('events.keys.rotated', { v: 1, kid: 'after-stop' });
      } finally {
        await caller.close();
        await server.close();
      }
    });

    test('an invalid event is refused by the publisher', async () => {
      // biome-ignore lint/suspicious/noExplicitAny: deliberately wrong event
      await assert.rejects(busA.publish('events.keys.rotated', { v: 2 } as any), (err) => err instanceof AppError);
    });
  });
}

/** Lets a transport's new subscriptions reach its server before they are used. */
async function settle(t: Transport): Promise<void> {
  await t.ping();
}

async function waitFor(ok: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}
