import type { User } from './contract.ts';
import { randomId } from './random.ts';

/**
 * Where a client keeps its session between calls (and page loads). Any object with these three
 * methods will do; each may answer synchronously or with a promise.
 */
export interface TokenStorage {
  /**
   * Clients on storages of the same name share one session: they coordinate their refreshes
   * (Web Locks, else BroadcastChannel) and hear each other's sign-in and sign-out. Every tab's
   * `localStorageAdapter()` has the same name; two `memoryStorage()`s never do. Without a name,
   * the client coordinates only with clients given this very object.
   */
  readonly name?: string;
  get(key: string): string | null | undefined | Promise<string | null | undefined>;
  set(key: string, value: string): void | Promise<void>;
  remove(key: string): void | Promise<void>;
  /**
   * Optional: calls `listener` with a key another tab changed (localStorage's `storage` event),
   * a second way for tabs to hear each other when BroadcastChannel is missing. Returns the
   * unsubscribe.
   */
  subscribe?(listener: (key: string) => void): () => void;
}

/** A session held in memory: gone with the page (or process). Each call makes a new, unshared one. */
export function memoryStorage(): TokenStorage {
  const values = new Map<string, string>();
  return {
    name: `memory:${randomId()}`,
    get: (key) => values.get(key) ?? null,
    set: (key, value) => {
      values.set(key, value);
    },
    remove: (key) => {
      values.delete(key);
    },
  };
}

/** What localStorageAdapter needs of a Web Storage (localStorage, sessionStorage, or a stand-in). */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface LocalStorageOptions {
  /** Prepended to every key (`gatehouse.`): two apps on one origin keep apart with two prefixes. */
  prefix?: string;
  /** The storage to use: `globalThis.localStorage` when absent. */
  storage?: WebStorageLike;
}

interface StorageEventLike {
  key: string | null;
  storageArea?: unknown;
}

/**
 * The session in `localStorage` under `<prefix>session`: shared by every tab of the origin,
 * which hear each other's changes through the `storage` event as well as BroadcastChannel.
 */
export function localStorageAdapter(options: LocalStorageOptions = {}): TokenStorage {
  const prefix = options.prefix ?? 'gatehouse.';
  const area = (): WebStorageLike => {
    const found = options.storage ?? (globalThis as unknown as { localStorage?: WebStorageLike }).localStorage;
    if (!found) throw new Error('localStorage is not available here: use memoryStorage() or a storage of your own');
    return found;
  };
  return {
    name: `localStorage:${prefix}`,
    get: (key) => area().getItem(prefix + key),
    set: (key, value) => area().setItem(prefix + key, value),
    remove: (key) => area().removeItem(prefix + key),
    subscribe(listener) {
      const target = globalThis as {
        addEventListener?: (type: string, fn: (e: StorageEventLike) => void) => void;
        removeEventListener?: (type: string, fn: (e: StorageEventLike) => void) => void;
      };
      if (typeof target.addEventListener !== 'function') return () => {};
      const onStorage = (event: StorageEventLike) => {
        // key null: the whole storage was cleared.
        if (event.key === null) listener('session');
        else if (event.key.startsWith(prefix)) listener(event.key.slice(prefix.length));
      };
      target.addEventListener('storage', onStorage);
      return () => target.removeEventListener?.('storage', onStorage);
    },
  };
}

/** The key of the session record in a TokenStorage. */
export const SESSION_KEY = 'session';

/** What the SDK stores: one JSON record, so a reader in another tab never sees half a rotation. */
export interface StoredSession {
  access_token: string;
  refresh_token: string;
  /** When the access token expires, in ms since the epoch (by the client's clock). */
  expires_at: number;
  /** When to refresh it (the margin before expiry, at most half its life); absent: `expires_at` less the margin. */
  refresh_at?: number;
  user: User | null;
}

export function parseSession(raw: string | null | undefined): StoredSession | null {
  if (!raw) return null;
  try {
    const value = JSON.parse(raw) as Partial<StoredSession>;
    if (
      typeof value.access_token === 'string' &&
      typeof value.refresh_token === 'string' &&
      typeof value.expires_at === 'number'
    ) {
      return {
        access_token: value.access_token,
        refresh_token: value.refresh_token,
        expires_at: value.expires_at,
        ...(typeof value.refresh_at === 'number' ? { refresh_at: value.refresh_at } : {}),
        user: value.user ?? null,
      };
    }
  } catch {
    // A damaged record is no session.
  }
  return null;
}
