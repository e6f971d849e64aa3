// The per-project settings identity keeps in memory, with a clock of the test's own; and the
// change event, whose loss is logged, never thrown at a caller whose write is committed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProjectSettings } from '@gatehouse/contracts';
import { AppError, Bus, InProcessTransport } from '@gatehouse/kit';
import { silentLog } from '../db/test-databases.ts';
import { ProjectEvents } from './project-events.ts';
import { ProjectSettingsReader } from './project-settings-reader.ts';

const P = '00000000-0000-7000-8000-00000000000a';

/** A reader over a settable store, counting its reads. */
function readerOver(ttlMs = 1000) {
  const stored = new Map<string, ProjectSettings>();
  const clock = { now: 0 };
  const reads: string[] = [];
  let fail = false;
  const reader = new ProjectSettingsReader(
    async (id) => {
      reads.push(id);
      if (fail) throw new AppError('service_unavailable', 'the database is unavailable');
      return stored.get(id) ?? null;
    },
    { ttlMs, now: () => clock.now },
  );
  return {
    reader,
    stored,
    clock,
    reads,
    failing: (on: boolean) => {
      fail = on;
    },
  };
}

test('kept until dropped or aged out; an unknown project has none; a failed read is not kept', async () => {
  const { reader, stored, clock, reads, failing } = readerOver();
  stored.set(P, { require_email_verification: true });
  assert.deepEqual(await reader.get(P), { require_email_verification: true });
  stored.set(P, {});
  assert.deepEqual(await reader.get(P), { require_email_verification: true }, 'kept');
  assert.equal(reads.length, 1);
  reader.drop(P);
  assert.deepEqual(await reader.get(P), {}, 'read again after a drop');
  stored.set(P, { access_token_ttl: 60 });
  clock.now = 999;
  assert.deepEqual(await reader.get(P), {});
  clock.now = 1000;
  assert.deepEqual(await reader.get(P), { access_token_ttl: 60 }, 'read again once aged out');
  assert.equal(reads.length, 3);

  assert.deepEqual(await reader.get('00000000-0000-7000-8000-00000000000b'), {});
  failing(true);
  reader.drop();
  await assert.rejects(reader.get(P), (err) => err instanceof AppError && err.code === 'service_unavailable');
  failing(false);
  assert.deepEqual(await reader.get(P), { access_token_ttl: 60 }, 'the failure was not kept');
});

test('a drop while a read is in flight: the answer read before the change is not kept', async () => {
  let release: (s: ProjectSettings) => void = () => {};
  let calls = 0;
  const reader = new ProjectSettingsReader(() => {
    calls++;
    if (calls === 1) return new Promise((resolve) => (release = resolve));
    return Promise.resolve({ require_email_verification: false });
  });
  const early = reader.get(P);
  reader.drop(P);
  release({ require_email_verification: true });
  assert.deepEqual(await early, { require_email_verification: true }, 'its own caller sees what it read');
  assert.deepEqual(await reader.get(P), { require_email_verification: false });
  assert.equal(calls, 2);
});

test('events.project.changed is published with the directory entry; a publish that fails is logged, not thrown', async () => {
  const bus = new Bus(new InProcessTransport(), silentLog, { timeoutMs: 1000 });
  const heard: unknown[] = [];
  bus.subscribe('events.project.changed', (e) => {
    heard.push(e);
  });
  const entry = { id: P, publishable_key: 'pk_test', secret_key_hash: null, settings: {} };
  await new ProjectEvents(bus, silentLog, async () => [entry]).changed(P);
  assert.deepEqual(heard, [{ v: 1, project_id: P, projects: [entry] }]);

  const logged: unknown[] = [];
  const log = { ...silentLog, error: (...args: unknown[]) => void logged.push(args) } as typeof silentLog;
  const down = {
    publish: async () => {
      throw new AppError('service_unavailable', 'NATS is unavailable');
    },
  };
  await new ProjectEvents(down, log, async () => [entry]).changed(P);
  assert.equal(logged.length, 1);
  await bus.transport.close();
});
