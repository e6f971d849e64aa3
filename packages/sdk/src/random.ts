/** A random id (hex): for tab ids and storage names. Works in insecure contexts (no randomUUID). */
export function randomId(): string {
  const bytes = new Uint8Array(12);
  const c = (globalThis as unknown as { crypto?: { getRandomValues?(a: Uint8Array): Uint8Array } }).crypto;
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A timer that does not keep a Node process alive (a no-op in browsers). */
export function unref<T>(timer: T): T {
  (timer as { unref?: () => void } | undefined)?.unref?.();
  return timer;
}

/** A pause that a pending call waits on (so it keeps a Node process alive, unlike the background timers). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
