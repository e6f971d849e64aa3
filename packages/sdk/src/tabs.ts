import type { User } from './contract.ts';
import { randomId, sleep, unref } from './random.ts';

/** What the tabs of one session tell each other. */
export type TabMessage =
  /** A sign-in: read the session again (cookie mode: the user comes along). */
  | { t: 'signed_in'; from: string; user: User | null }
  /** A refresh: read the session again (the realtime socket takes the fresh token). */
  | { t: 'refreshed'; from: string; expires_at: number | null }
  /** The session is over: every tab signs out. */
  | { t: 'signed_out'; from: string; reason: string }
  /** The user changed (a profile update). */
  | { t: 'user'; from: string; user: User }
  /** The BroadcastChannel lock (used where the Web Locks API is missing). */
  | { t: 'lock'; from: string; at: number }
  | { t: 'lock_held'; from: string }
  | { t: 'unlock'; from: string };

type Outgoing = TabMessage extends infer M ? (M extends { from: string } ? Omit<M, 'from'> : never) : never;

interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** The tabs of one session, over a BroadcastChannel (none where it is missing: then this tab is alone). */
export class TabChannel {
  readonly tab = randomId();
  readonly #channel: BroadcastChannelLike | null = null;
  readonly #listeners = new Set<(message: TabMessage) => void>();

  constructor(name: string | null) {
    const Ctor = (globalThis as unknown as { BroadcastChannel?: new (name: string) => BroadcastChannelLike })
      .BroadcastChannel;
    if (name === null || typeof Ctor !== 'function') return;
    const channel = new Ctor(name);
    // Node: a channel does not keep the process alive.
    unref(channel);
    channel.onmessage = (event) => {
      const message = event.data as TabMessage;
      if (typeof message !== 'object' || message === null || message.from === this.tab) return;
      for (const listener of [...this.#listeners]) listener(message);
    };
    this.#channel = channel;
  }

  get available(): boolean {
    return this.#channel !== null;
  }

  post(message: Outgoing): void {
    try {
      this.#channel?.postMessage({ ...message, from: this.tab });
    } catch {
      // A closed channel: nobody to tell.
    }
  }

  on(listener: (message: TabMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#listeners.clear();
    this.#channel?.close();
  }
}

/** What the SDK needs of the Web Locks API (`navigator.locks`). */
export interface LockManagerLike {
  request(name: string, callback: (lock: unknown) => Promise<unknown>): Promise<unknown>;
}

/** Runs `fn` while no other holder of the same lock (in any tab) runs. */
export type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * The refresh lock of a session: the Web Locks API when present (every tab of the origin), else
 * a claim-and-yield protocol over the tabs' BroadcastChannel, else this tab alone. Within a tab
 * the calls queue up too.
 */
export function exclusive(name: string, locks: LockManagerLike | null, channel: TabChannel): Exclusive {
  let tail: Promise<unknown> = Promise.resolve();
  const inTab: Exclusive = (fn) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  };
  if (locks) return (fn) => inTab(() => locks.request(name, () => fn()) as ReturnType<typeof fn>);
  if (channel.available) {
    const lock = new ChannelLock(channel);
    return (fn) => inTab(() => lock.run(fn));
  }
  return inTab;
}

/**
 * A lock over BroadcastChannel, for browsers without Web Locks. A tab that wants it waits until
 * no other tab holds it, announces a claim, and listens for a collision window: the earliest
 * claim (ties broken by tab id) wins and the others withdraw and wait; a holder answers a late
 * claim with `lock_held`. A holder that vanishes (a closed tab) is forgotten after `holdMs`.
 * Should it ever fail, two tabs refresh at once, which the server's reuse interval tolerates.
 */
export class ChannelLock {
  readonly #channel: TabChannel;
  readonly #windowMs: number;
  readonly #holdMs: number;
  /** Other tabs that claimed or hold the lock, until when (ms) we believe them. */
  readonly #others = new Map<string, number>();
  readonly #wakers = new Set<() => void>();
  #claim: { at: number; tab: string } | null = null;
  #lost = false;
  #holding = false;

  constructor(channel: TabChannel, options: { windowMs?: number; holdMs?: number } = {}) {
    this.#channel = channel;
    this.#windowMs = options.windowMs ?? 60;
    this.#holdMs = options.holdMs ?? 10_000;
    channel.on((message) => this.#hear(message));
  }

  #hear(message: TabMessage): void {
    if (message.t === 'lock') {
      if (this.#holding) {
        this.#channel.post({ t: 'lock_held' });
        return;
      }
      const theirs = { at: message.at, tab: message.from };
      if (this.#claim && earlier(theirs, this.#claim)) this.#lost = true;
      this.#others.set(message.from, Date.now() + this.#holdMs);
    } else if (message.t === 'lock_held') {
      this.#others.set(message.from, Date.now() + this.#holdMs);
      if (this.#claim) this.#lost = true;
    } else if (message.t === 'unlock') {
      this.#others.delete(message.from);
    } else {
      return;
    }
    for (const wake of [...this.#wakers]) wake();
  }

  async #othersGone(deadline: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      for (const [tab, until] of this.#others) if (until <= now) this.#others.delete(tab);
      if (this.#others.size === 0 || now >= deadline) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#wakers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(250, deadline - now));
        this.#wakers.add(done);
      });
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#holdMs;
    for (;;) {
      await this.#othersGone(deadline);
      this.#claim = { at: Date.now(), tab: this.#channel.tab };
      this.#lost = false;
      this.#channel.post({ t: 'lock', at: this.#claim.at });
      await sleep(this.#windowMs);
      if (!this.#lost || Date.now() >= deadline) break;
      // Another tab's claim came first: withdraw ours and wait for it.
      this.#claim = null;
      this.#channel.post({ t: 'unlock' });
    }
    this.#claim = null;
    this.#holding = true;
    try {
      return await fn();
    } finally {
      this.#holding = false;
      this.#channel.post({ t: 'unlock' });
    }
  }
}

const earlier = (a: { at: number; tab: string }, b: { at: number; tab: string }) =>
  a.at < b.at || (a.at === b.at && a.tab < b.tab);
