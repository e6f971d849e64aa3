/**
 * The gateway's in-memory set of revoked session ids: the hot-path half of
 * instant revocation. Each id is kept until `until` (epoch ms), after which no
 * access token can still carry it. A lookup is one Map read.
 */
export class RevocationSet {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;
  /** Since when revocations may have been missed (the bus was lost), or null while in sync. */
  #staleSince: number | null = null;
  /** Counts the losses of the bus, so that a reload begun before the latest one cannot end the staleness. */
  #losses = 0;

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

  /** The bus was lost: events published from now on may never arrive. */
  markStale(): void {
    this.#staleSince ??= this.#now();
    this.#losses++;
  }

  /** Taken before a reload starts; hand it to `markSynced` once the reload is in. */
  get losses(): number {
    return this.#losses;
  }

  /**
   * The whole list was reloaded, starting when `losses` was `since`. False (and
   * still stale) when the bus was lost again meanwhile: reload once more.
   */
  markSynced(since: number): boolean {
    if (since !== this.#losses) return false;
    this.#staleSince = null;
    return true;
  }

  /** How long the set may have been missing revocations (0 while in sync). */
  staleForMs(): number {
    return this.#staleSince === null ? 0 : this.#now() - this.#staleSince;
  }

  get size(): number {
    return this.#until.size;
  }
}
