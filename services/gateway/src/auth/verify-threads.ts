import { Worker } from 'node:worker_threads';
import { type CheckToken, checkToken, compileKeys } from './jwt-check.mjs';

type Job = { kid: string | undefined; token: string; resolve: (payload: Record<string, unknown> | null) => void };

interface Thread {
  worker: Worker;
  /** Jobs sent and not answered, by id. */
  jobs: Map<number, Job>;
}

export interface VerifyThreadsOptions {
  /** Threads that check signatures beside the event loop (VERIFY_THREADS); 0, the default: every check on the main thread. */
  threads?: number;
  /** A check with no other under way runs on the main thread at once (no hop): true unless a test says. */
  inlineWhenIdle?: boolean;
}

/**
 * The signature checks of tokens the gateway has not seen before, spread over worker threads:
 * an ES256 check is most of a cold request's CPU, and on the event loop it would leave the other
 * cores idle while every other request waits behind it. Checks that arrive in one turn of the
 * event loop go to a thread as one message; threads start at the first burst (a gateway whose
 * checks come one at a time runs them inline) and are restarted when one dies (its checks are
 * redone inline). Same keys, same answers as the inline check (jwt-check.mjs).
 */
export class VerifyThreads {
  readonly #size: number;
  readonly #inlineWhenIdle: boolean;
  #threads: Thread[] = [];
  #verifiers = new Map<string, CheckToken>();
  #keys: { keys: readonly { kid?: string; kty?: string }[]; issuer: string } = { keys: [], issuer: '' };
  #queue: [number, string | undefined, string, Job][] = [];
  #flushing = false;
  #nextId = 0;
  #next = 0;
  #inFlight = 0;
  #inlinedThisTurn = false;
  #closed = false;

  constructor(options: VerifyThreadsOptions = {}) {
    this.#size = options.threads ?? 0;
    this.#inlineWhenIdle = options.inlineWhenIdle ?? true;
  }

  /** The JWKS to check with from now on (every thread gets it before its next batch). */
  setKeys(keys: readonly { kid?: string; kty?: string }[], issuer: string): void {
    this.#keys = { keys, issuer };
    this.#verifiers = compileKeys(keys, issuer);
    for (const thread of this.#threads) thread.worker.postMessage(this.#keys);
  }

  /** The token's payload when `kid`'s key signed it for the issuer, else null. */
  check(kid: string | undefined, token: string): Promise<Record<string, unknown> | null> {
    if (this.#size === 0 || this.#closed) return Promise.resolve(this.#inline(kid, token));
    // Idle: the first check of this turn of the event loop runs here at once; a second one in
    // the same turn, or any while threads are busy, is a burst and goes to them.
    if (this.#inlineWhenIdle && this.#inFlight === 0 && !this.#inlinedThisTurn) {
      this.#inlinedThisTurn = true;
      setImmediate(() => {
        this.#inlinedThisTurn = false;
      });
      return Promise.resolve(this.#inline(kid, token));
    }
    return new Promise((resolve) => {
      this.#inFlight++;
      this.#queue.push([
        this.#nextId++,
        kid,
        token,
        {
          kid,
          token,
          resolve: (payload) => {
            this.#inFlight--;
            resolve(payload);
          },
        },
      ]);
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Threads running now (they start with the first burst). */
  get running(): number {
    return this.#threads.length;
  }

  /** Ends the threads as a crash would (their checks are redone inline): for tests. */
  async kill(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const threads = this.#threads;
    this.#threads = [];
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  #inline(kid: string | undefined, token: string): Record<string, unknown> | null {
    try {
      return checkToken(this.#verifiers, kid, token);
    } catch {
      return null;
    }
  }

  #flush(): void {
    this.#flushing = false;
    const queue = this.#queue;
    this.#queue = [];
    if (queue.length === 0) return;
    if (this.#closed) {
      for (const [, kid, token, job] of queue) job.resolve(this.#inline(kid, token));
      return;
    }
    while (this.#threads.length < this.#size) this.#threads.push(this.#spawn());
    // One batch per thread, round robin: the batches of one turn spread over every thread.
    const per = Math.ceil(queue.length / this.#threads.length);
    for (let i = 0; i < queue.length; i += per) {
      const thread = this.#threads[this.#next++ % this.#threads.length] as Thread;
      const batch = queue.slice(i, i + per);
      for (const [id, , , job] of batch) thread.jobs.set(id, job);
      thread.worker.postMessage(batch.map(([id, kid, token]) => [id, kid, token]));
    }
  }

  #spawn(): Thread {
    // A small heap: a thread holds no state beyond the keys, and V8 would otherwise grow its young
    // generation to tens of MB under a burst of checks (the gateway's RSS, times the threads).
    const worker = new Worker(new URL('./jwt-check.mjs', import.meta.url), {
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    });
    worker.unref();
    const thread: Thread = { worker, jobs: new Map() };
    worker.postMessage(this.#keys);
    worker.on('message', (answers: [number, Record<string, unknown> | null][]) => {
      for (const [id, payload] of answers) {
        const job = thread.jobs.get(id);
        if (!job) continue;
        thread.jobs.delete(id);
        job.resolve(payload);
      }
    });
    const lost = () => {
      this.#threads = this.#threads.filter((t) => t !== thread);
      // What the thread held is checked here, once; the next burst starts a new thread.
      const jobs = [...thread.jobs.values()];
      thread.jobs.clear();
      for (const job of jobs) job.resolve(this.#inline(job.kid, job.token));
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    return thread;
  }
}
