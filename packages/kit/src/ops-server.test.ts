// The operations port over real HTTP: liveness, readiness that follows the check (and its
// timeout), the process's metrics, and nothing else.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from './logger.ts';
import { metrics } from './metrics.ts';
import { startOpsServer } from './ops-server.ts';

const log = createLogger({ service: 'test', level: 'silent' });

describe('operations port', () => {
  test('/healthz 200; /readyz follows the check, 503 with the error body when it fails or hangs; /metrics', async () => {
    let state: 'ready' | 'failing' | 'hanging' = 'failing';
    const ops = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      log,
      ready: () =>
        state === 'ready'
          ? Promise.resolve()
          : state === 'failing'
            ? Promise.reject(new Error('postgres is unavailable'))
            : new Promise(() => {}),
    });
    const url = (path: string) => `http://127.0.0.1:${ops.port}${path}`;
    try {
      assert.equal((await fetch(url('/healthz'))).status, 200);
      const down = await fetch(url('/readyz'));
      assert.equal(down.status, 503);
      assert.deepEqual(await down.json(), {
        error: 'service_unavailable',
        message: 'not ready: postgres is unavailable',
      });
      state = 'hanging';
      const started = Date.now();
      const hung = await fetch(url('/readyz'));
      assert.equal(hung.status, 503);
      assert.ok(Date.now() - started < 4000, 'a hanging check is answered within its bound');
      state = 'ready';
      const up = await fetch(url('/readyz'));
      assert.equal(up.status, 200);
      assert.deepEqual(await up.json(), { status: 'ready' });
      metrics.revocations.inc({ reason: 'ops-test' });
      const scraped = await fetch(url('/metrics'));
      assert.equal(scraped.status, 200);
      assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await scraped.text(), /gatehouse_revocations_total\{reason="ops-test"\} 1/);
      const other = await fetch(url('/admin'));
      assert.equal(other.status, 404);
      assert.equal(((await other.json()) as { error: string }).error, 'not_found');
      assert.equal((await fetch(url('/healthz'), { method: 'POST' })).status, 405);
    } finally {
      await ops.close();
    }
  });
});
