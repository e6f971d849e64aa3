// NATS as a cluster: three nats-server nodes on loopback (routes and JetStream clustered), the
// services given all three in a comma-separated NATS_URL. One node is killed: requests, events
// and the mail queue (streams with three replicas) go on through the other two.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MailJob } from '@gatehouse/contracts';
import { pino } from 'pino';
import { JetStreamMailQueue } from '../mail-queue/jetstream.ts';
import { mailJob, waitFor } from '../mail-queue/mail-queue.contract.ts';
import { freePort, stopChild, tcpUp } from '../testing/private-nats.ts';
import { Bus } from './bus.ts';
import { NatsTransport } from './nats.ts';

const NATS_BIN = process.env.NATS_SERVER_BIN ?? 'nats-server';
const log = pino({ level: 'silent' });

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  child?: ChildProcess;
  stderr: string;
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nats-cluster-'));
const nodes: Node[] = [];

function startNode(node: Node): Promise<void> {
  const routes = nodes.filter((n) => n !== node).map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
  const child = spawn(
    NATS_BIN,
    [
      ...['-a', '127.0.0.1', '-p', String(node.port), '-n', node.name],
      ...['--cluster_name', 'gatehouse-test', '--cluster', `nats://127.0.0.1:${node.clusterPort}`],
      ...['--routes', routes.join(','), '-js', '-sd', join(dir, node.name)],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  node.child = child;
  child.stderr?.on('data', (chunk: Buffer) => {
    node.stderr = (node.stderr + chunk.toString()).slice(-4000);
  });
  return waitFor(
    `${node.name} to listen`,
    () => {
      if (child.exitCode !== null) throw new Error(`${node.name} exited: ${node.stderr}`);
      return tcpUp(node.port);
    },
    10_000,
  );
}

before(async () => {
  for (const name of ['n1', 'n2', 'n3'])
    nodes.push({ name, port: await freePort(), clusterPort: await freePort(), stderr: '' });
  await Promise.all(nodes.map(startNode));
});

after(async () => {
  await Promise.all(nodes.map((n) => stopChild(n.child)));
  rmSync(dir, { recursive: true, force: true });
});

/** Every node's URL, as NATS_URL lists them: the client picks one and moves on when it goes. */
const natsUrl = () => nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');

describe('nats cluster: one node of three killed', () => {
  test('requests, events and the mail queue (three replicas) go on through the other nodes', async () => {
    // Each client on a node of its own: the killed node had clients, and they move.
    const [caller, server, listener] = await Promise.all(
      ['caller', 'server', 'listener'].map((name) => NatsTransport.connect(natsUrl(), name, log)),
    );
    // JetStream answers once the cluster has elected its meta leader.
    let mail: JetStreamMailQueue | undefined;
    await waitFor(
      'JetStream to elect its leaders',
      async () => {
        mail = await JetStreamMailQueue.open({ servers: natsUrl(), log, replicas: 3, name: 'cluster-mail' }).catch(
          () => undefined,
        );
        return mail !== undefined;
      },
      30_000,
    );
    if (!mail) throw new Error('no mail queue');
    const queue = mail;
    try {
      const callerBus = new Bus(caller as NatsTransport, log, { timeoutMs: 2000 });
      new Bus(server as NatsTransport, log, { timeoutMs: 2000 }).serve('session.jwks.get', async () => ({ keys: [] }));
      const heard: string[] = [];
      new Bus(listener as NatsTransport, log, { timeoutMs: 2000 }).subscribe('events.keys.rotated', (e) => {
        heard.push(e.kid);
      });
      await Promise.all([server?.ping(), listener?.ping()]);
      // The route carries the subscriptions to every node before the first request.
      await waitFor('the route', async () => {
        try {
          await callerBus.request('session.jwks.get', {});
          return true;
        } catch {
          return false;
        }
      });
      const delivered: MailJob[] = [];
      const consumer = await queue.consume(async (job) => {
        delivered.push(job);
      });
      const before = [mailJob(), mailJob()];
      for (const job of before) await queue.enqueue(job);
      await callerBus.publish('events.keys.rotated', { v: 1, kid: 'before' });
      await waitFor('the first jobs and event', () => delivered.length >= 2 && heard.includes('before'));

      // Kill the first node: every client that was on it reconnects to another.
      const doomed = nodes[0]?.child;
      const gone = new Promise((resolve) => doomed?.once('exit', resolve));
      doomed?.kill('SIGKILL');
      await gone;
      const after: MailJob[] = [mailJob(), mailJob()];
      await waitFor(
        'requests through the other nodes',
        async () => {
          try {
            await callerBus.request('session.jwks.get', {});
            return true;
          } catch {
            return false;
          }
        },
        20_000,
      );
      for (let i = 0; i < 20; i++) assert.deepEqual(await callerBus.request('session.jwks.get', {}), { keys: [] });
      await waitFor(
        'the mail queue on the other nodes',
        async () => {
          try {
            for (const job of after) await queue.enqueue(job);
            return true;
          } catch {
            return false;
          }
        },
        20_000,
      );
      await waitFor(
        'events on the other nodes',
        async () => {
          await callerBus.publish('events.keys.rotated', { v: 1, kid: 'after' }).catch(() => {});
          return heard.includes('after');
        },
        20_000,
      );
      await waitFor('every job delivered', () => after.every((j) => delivered.some((d) => d.id === j.id)), 60_000);
      const ids = delivered.map((d) => d.id);
      assert.equal(new Set(ids).size, ids.length, 'no job delivered twice');
      for (const job of [...before, ...after]) assert.ok(ids.includes(job.id), `job ${job.id} delivered`);
      await consumer.stop();
    } finally {
      await queue.close();
      await Promise.all([caller?.close(), server?.close(), listener?.close()]);
    }
  });
});
