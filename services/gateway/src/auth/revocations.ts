/**
 * The gateway's in-memory set of revoked session ids: the hot-path half of
 * instant revocation. Each id is kept until `until` (epoch ms), after which no
 * access token can still carry it. A lookup is one Map read.
 */
export class RevocationSet {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  add(sessionId: string, until: number): void {
    const known = this.#until.get(sessionId) ?? 0;
    if (until > known) this.#until.set(sessionId, until);
  }

  has(sessionId: string): boolean {
    return this.#until.has(sessionId);
  }

  /** Drops the ids whose tokens have all expired. */
  prune(): number {
    const now = this.#now();
    let dropped = 0;
    for (const [id, until] of this.#until) {
      if (until <= now) {
        this.#until.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.#until.size;
  }
}
