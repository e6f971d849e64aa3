// GET /metrics over inject(), with stand-in services: requests counted by route template (never
// the raw path), sign-ins by method and outcome, bus requests by subject and outcome, the
// revocation set's size. Metrics are the process's: each assertion reads a difference.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { AppError, metrics } from '@gatehouse/kit';
import { type StandInGateway, userRecord, withGateway } from '../app.test-support.ts';

/** The value of the series `name{labels}` in the Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('} ');
    const pairs = Object.fromEntries(
      [...line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => pairs[k] === v)) return Number(line.slice(close + 2));
  }
  return 0;
}

async function scrape(gw: StandInGateway): Promise<string> {
  const res = await gw.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  return res.body;
}

describe('GET /metrics', () => {
  test('requests by route template, method and status, with their durations; a raw path never appears', () =>
    withGateway({ 'identity.user.get': async () => ({ user: userRecord('a@example.com') }) }, async (gw) => {
      const admin = await gw.sign({ sub: randomUUID(), sid: randomUUID(), role: 'admin' });
      const id = randomUUID();
      const before = await scrape(gw);
      const route = { route: '/admin/users/:id', method: 'GET', status: '200' };
      for (let i = 0; i < 3; i++) {
        const res = await gw.app.inject({
          method: 'GET',
          url: `/admin/users/${id}`,
          headers: { authorization: `Bearer ${admin}` },
        });
        assert.equal(res.statusCode, 200, res.body);
      }
      await gw.app.inject({ method: 'GET', url: '/auth/session' }); // 401
      await gw.app.inject({ method: 'GET', url: `/no/such/${id}` }); // 404
      const after = await scrape(gw);
      const delta = (name: string, labels: Record<string, string>) =>
        sample(after, name, labels) - sample(before, name, labels);
      assert.equal(delta('gatehouse_http_requests_total', route), 3);
      assert.equal(delta('gatehouse_http_requests_total', { route: '/auth/session', method: 'GET', status: '401' }), 1);
      assert.equal(delta('gatehouse_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1);
      assert.equal(
        delta('gatehouse_http_request_duration_seconds_count', { route: '/admin/users/:id', method: 'GET' }),
        3,
      );
      assert.ok(!after.includes(id), 'no raw path, no id in a label');
      // The bus requests the routes made, by subject and outcome.
      assert.equal(
        delta('gatehouse_bus_request_duration_seconds_count', { subject: 'identity.user.get', outcome: 'ok' }),
        3,
      );
    }));

  test('sign-ins by method and outcome; the revocation set size', () =>
    withGateway(
      {
        'identity.user.register': async (m) => ({ user: userRecord(m.email) }),
        'identity.user.authenticate': async () => {
          throw new AppError('invalid_credentials', 'wrong email or password');
        },
      },
      async (gw) => {
        const before = await scrape(gw);
        const ok = await gw.app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { email: `m${randomUUID()}@example.com`, password: 'correct horse battery' },
        });
        assert.equal(ok.statusCode, 201, ok.body);
        const bad = await gw.app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'who@example.com', password: 'wrong password here' },
        });
        assert.equal(bad.statusCode, 401, bad.body);
        gw.revocations.add(randomUUID(), Date.now() + 60_000);
        gw.revocations.add(randomUUID(), Date.now() + 60_000);
        const after = await scrape(gw);
        const delta = (labels: Record<string, string>) =>
          sample(after, 'gatehouse_sign_ins_total', labels) - sample(before, 'gatehouse_sign_ins_total', labels);
        assert.equal(delta({ method: 'password', outcome: 'success' }), 1);
        assert.equal(delta({ method: 'password', outcome: 'invalid_credentials' }), 1);
        assert.match(after, /\ngatehouse_revocation_set_size 2\n/);
        assert.match(after, /\ngatehouse_realtime_sockets 0\n/);
        assert.ok(!after.includes('who@example.com'), 'no email in any label');
      },
    ));

  test('METRICS=false: no /metrics route, and requests are not counted', () =>
    withGateway(
      {},
      async (gw) => {
        const series = { route: '/auth/session', method: 'GET', status: '401' };
        const before = sample(await metrics.text(), 'gatehouse_http_requests_total', series);
        assert.equal((await gw.app.inject({ method: 'GET', url: '/auth/session' })).statusCode, 401);
        const res = await gw.app.inject({ method: 'GET', url: '/metrics' });
        assert.equal(res.statusCode, 404);
        assert.equal(res.json().error, 'not_found');
        assert.equal(sample(await metrics.text(), 'gatehouse_http_requests_total', series), before);
      },
      { METRICS: 'false' },
    ));
});
