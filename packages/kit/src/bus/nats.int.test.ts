import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { AppError } from '../errors.ts';
import { PrivateNats } from '../testing/private-nats.ts';
import { Bus } from './bus.ts';
import { NatsTransport } from './nats.ts';
import { transportContract } from './transport.contract.ts';

// A private server: the contract serves real subjects in real queue groups, which a Gatehouse
// running against the machine's NATS would answer too.
const nats = new PrivateNats();
before(() => nats.start());
after(() => nats.destroy());

const UUID = '0190f5a0-0000-7000-8000-000000000001';

transportContract('nats', () => NatsTransport.connect(nats.url, 'contract-test', pino({ level: 'silent' })));

describe('nats: a replica that dies with a request in hand', () => {
  test('a request safe to repeat is answered by another replica; a sign-in is not sent again', async () => {
    const log = pino({ level: 'silent' });
    const [caller, doomed, live] = await Promise.all(
      ['caller', 'doomed', 'live'].map((name) => NatsTransport.connect(nats.url, name, log)),
    );
    try {
      const bus = new Bus(caller as NatsTransport, log, { timeoutMs: 1000 });
      const calls = { doomed: 0, live: 0, login: 0 };
      // The doomed replica takes a request and dies with it in hand, as a process killed then:
      // its connection ends, so the server stops routing to it.
      new Bus(doomed as NatsTransport, log, { timeoutMs: 1000 }).serve('session.jwks.get', async () => {
        calls.doomed++;
        await (doomed as NatsTransport).connection.close();
        return new Promise(() => {});
      });
      new Bus(live as NatsTransport, log, { timeoutMs: 1000 }).serve('session.jwks.get', async () => {
        calls.live++;
        return { keys: [] };
      });
      await Promise.all([doomed?.ping(), live?.ping()]);
      // Until the doomed one has taken one (a queue group picks at random).
      for (let i = 0; i < 50 && calls.doomed === 0; i++) {
        const started = Date.now();
        assert.deepEqual(await bus.request('session.jwks.get', {}), { keys: [] });
        assert.ok(Date.now() - started < 1500, 'within the one timeout');
      }
      assert.equal(calls.doomed, 1, 'the doomed replica took one');
      assert.ok(calls.live >= 1);

      // A sign-in taken by a replica that dies is not sent again: its hash may have run.
      const doomedLogin = await NatsTransport.connect(nats.url, 'doomed-login', log);
      new Bus(doomedLogin, log, { timeoutMs: 1000 }).serve('identity.user.authenticate', async () => {
        calls.login++;
        await doomedLogin.connection.close();
        return new Promise(() => {});
      });
      new Bus(live as NatsTransport, log, { timeoutMs: 1000 }).serve('identity.user.authenticate', async () => {
        calls.login += 100;
        throw new AppError('invalid_credentials', 'wrong');
      });
      await doomedLogin.ping();
      let unanswered = 0;
      for (let i = 0; i < 50 && calls.login % 100 === 0; i++) {
        await bus
          .request('identity.user.authenticate', { project_id: UUID, email: 'a@example.com', password: 'x' })
          .catch((err: AppError) => {
            if (err.code === 'service_unavailable') unanswered++;
          });
      }
      assert.equal(calls.login % 100, 1, 'the doomed replica took one sign-in');
      assert.equal(unanswered, 1, 'and that one failed: it was not sent to the live replica');
    } finally {
      await Promise.all([caller?.close(), live?.close()]);
    }
  });
});
