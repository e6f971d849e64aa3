import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PROJECT_ID, type UserRecord } from '@gatehouse/contracts';
import { AppError } from '@gatehouse/kit';
import {
  cookiesOf,
  type StandInGateway,
  type StandIns,
  sessionCheck,
  userRecord,
  withGateway,
} from '../app.test-support.ts';
import { ANSWER_FLOOR_MS } from '../http/answer-floor.ts';

// POST /auth/magic-link and /auth/magic-link/verify against stand-in identity, session and mfa
// services.

const KNOWN = 'known@example.com';
const TOKEN = 'A'.repeat(43);

const post = (gw: StandInGateway, url: string, payload: object) =>
  gw.app.inject({ method: 'POST', url, payload, remoteAddress: '192.0.2.9' });

describe('POST /auth/magic-link', () => {
  // identity mails a known address a link (slower: a token written, a mail queued); an unknown one nothing.
  const identity: StandIns = {
    'identity.magic_link.send': async (m) => {
      if (m.email === KNOWN) await sleep(20);
      return {};
    },
  };

  test('202 {} for a known and an unknown address alike, each no sooner than the answer floor', async () => {
    await withGateway(identity, async (gw) => {
      for (const email of [KNOWN, 'nobody@example.com']) {
        const started = performance.now();
        const res = await post(gw, '/auth/magic-link', { email });
        const ms = performance.now() - started;
        assert.equal(res.statusCode, 202, res.body);
        assert.deepEqual(res.json(), {});
        // A timer may fire a fraction of a millisecond early against performance.now().
        assert.ok(ms >= ANSWER_FLOOR_MS - 1, `${email}: ${ms} ms`);
      }
      assert.deepEqual(gw.callsTo('identity.magic_link.send'), [
        { project_id: DEFAULT_PROJECT_ID, email: KNOWN },
        { project_id: DEFAULT_PROJECT_ID, email: 'nobody@example.com' },
      ]);
    });
  });

  test('identity gets the address in its one spelling', async () => {
    await withGateway(identity, async (gw) => {
      assert.equal((await post(gw, '/auth/magic-link', { email: '  Known@Example.COM ' })).statusCode, 202);
      assert.deepEqual(
        gw.callsTo('identity.magic_link.send').map((m) => m.email),
        [KNOWN],
      );
    });
  });

  test('redirect_to reaches identity only when allow-listed, else 400 invalid_redirect and no mail', async () => {
    await withGateway(
      identity,
      async (gw) => {
        const allowed = 'https://app.example/signed-in';
        assert.equal((await post(gw, '/auth/magic-link', { email: KNOWN, redirect_to: allowed })).statusCode, 202);
        const refused = await post(gw, '/auth/magic-link', { email: KNOWN, redirect_to: 'https://evil.example/' });
        assert.equal(refused.statusCode, 400);
        assert.equal(refused.json().error, 'invalid_redirect');
        assert.deepEqual(gw.callsTo('identity.magic_link.send'), [
          { project_id: DEFAULT_PROJECT_ID, email: KNOWN, redirect_to: allowed },
        ]);
      },
      { REDIRECT_ALLOWLIST: 'https://app.example' },
    );
  });
});

describe('POST /auth/magic-link/verify', () => {
  /** identity verifies TOKEN for `user`, answering that the proof ended `sessionIds`; any other token is invalid_one_time_token. */
  function identity(user: UserRecord, sessionIds: string[] = []): StandIns {
    return {
      'identity.magic_link.verify': async (m) => {
        if (m.token !== TOKEN) throw new AppError('invalid_one_time_token', 'the link is invalid or has expired');
        return { user, created: false, session_ids: sessionIds };
      },
      'mfa.challenge.create': async () => ({ mfa_token: 'mfa-after-link', methods: ['totp'], expires_in: 300 }),
    };
  }

  test('a user without a second factor gets tokens; the session has amr ["magic_link"]', async () => {
    const user = userRecord(KNOWN);
    await withGateway(identity(user), async (gw) => {
      const res = await post(gw, '/auth/magic-link/verify', { token: TOKEN });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(gw.callsTo('identity.magic_link.verify'), [{ project_id: DEFAULT_PROJECT_ID, token: TOKEN }]);
      assert.equal(gw.callsTo('mfa.challenge.create').length, 0);
      assert.deepEqual(
        gw.callsTo('session.session.create').map((s) => [s.user_id, s.amr, s.role]),
        [[user.id, ['magic_link'], 'user']],
      );
      assert.equal(res.json().user.id, user.id);
      assert.equal(await sessionCheck(gw.app, res.json().access_token), 200);
    });
  });

  test('the sessions identity names as ended are refused by this gateway at once', async () => {
    const user = userRecord(KNOWN);
    const [first, second, other] = [randomUUID(), randomUUID(), randomUUID()];
    await withGateway(identity(user, [first, second]), async (gw) => {
      const earlier = await Promise.all([first, second, other].map((sid) => gw.sign({ sub: user.id, sid })));
      for (const token of earlier) assert.equal(await sessionCheck(gw.app, token), 200);
      const res = await post(gw, '/auth/magic-link/verify', { token: TOKEN });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        await Promise.all(earlier.map((token) => sessionCheck(gw.app, token))),
        [401, 401, 200],
        'the two ended sessions are refused; a session identity did not name lives on',
      );
      assert.equal(await sessionCheck(gw.app, res.json().access_token), 200, 'the new session works');
    });
  });

  test('a user with mfa_enabled gets the MfaChallenge (asked for with amr ["magic_link"]), and no session', async () => {
    const user = userRecord(KNOWN, { mfa_enabled: true });
    const ended = randomUUID();
    await withGateway(identity(user, [ended]), async (gw) => {
      const before = await gw.sign({ sub: user.id, sid: ended });
      const res = await post(gw, '/auth/magic-link/verify', { token: TOKEN, auth_mode: 'cookie' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { mfa_required: true, mfa_token: 'mfa-after-link', methods: ['totp'] });
      assert.deepEqual(gw.callsTo('mfa.challenge.create'), [
        { project_id: DEFAULT_PROJECT_ID, user_id: user.id, amr: ['magic_link'] },
      ]);
      assert.equal(gw.callsTo('session.session.create').length, 0);
      assert.deepEqual(cookiesOf(res), {});
      assert.equal(await sessionCheck(gw.app, before), 401, 'the proof ended the old sessions all the same');
    });
  });

  test("identity's invalid_one_time_token is 400 invalid_token on the wire (a bad link), and no session", async () => {
    await withGateway(identity(userRecord(KNOWN)), async (gw) => {
      const res = await post(gw, '/auth/magic-link/verify', { token: 'B'.repeat(43) });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error, 'invalid_token');
      assert.equal(gw.callsTo('session.session.create').length, 0);
    });
  });

  test('cookie mode: the tokens as cookies, not in the body', async () => {
    await withGateway(identity(userRecord(KNOWN)), async (gw) => {
      const res = await post(gw, '/auth/magic-link/verify', { token: TOKEN, auth_mode: 'cookie' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(res.json()).sort(), ['expires_in', 'token_type', 'user']);
      assert.deepEqual(Object.keys(cookiesOf(res)).sort(), ['gh_access', 'gh_csrf', 'gh_refresh']);
    });
  });
});
