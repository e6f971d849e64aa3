import type { PGlite } from '@electric-sql/pglite';
import type { Logger } from '@gatehouse/kit';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { EmbeddedDatabaseUnavailable, isWasmTrap } from './errors.ts';

/** Limits of the embedded database; tests shorten them. */
export interface EmbeddedLimits {
  /**
   * A statement not answered within this many ms is taken for a hung instance,
   * which is then replaced. PGlite runs statements synchronously, so a slow
   * one blocks the event loop and settles before this timer can fire; only a
   * statement that waits on nothing trips it.
   */
  queryTimeoutMs: number;
  /** The deepest JSON a parameter may nest (see `tooDeep`). */
  maxJsonDepth: number;
}

export const EMBEDDED_LIMITS: EmbeddedLimits = {
  // Well past a bus timeout (5 s), so only a statement that will never answer trips it.
  queryTimeoutMs: 10_000,
  // PGlite traps from ~850 levels when parsing jsonb; the bus refuses more than 24 anyway.
  maxJsonDepth: 128,
};

/** After a reopen that failed, queries answer `service_unavailable` at once for this long before the next try. */
const REOPEN_RETRY_MS = 1_000;
/** A crashed instance's close may trap or never settle: it gets this long before the directory is reopened anyway. */
const CLOSE_GRACE_MS = 2_000;

/**
 * True when `err` says the PGlite instance itself is broken, not the query.
 * PGlite is Postgres compiled to WebAssembly, and a statement that overflows
 * its small C stack (a jsonb value nested ~900 levels deep; Postgres' own
 * `max_stack_depth` check does not work there) leaves it corrupt. What follows
 * depends on the memory layout: `RuntimeError: memory access out of bounds`
 * (a trap) then the same on every statement, or `cannot drop active portal`
 * (SQLSTATE 24000: we never open portals ourselves) on every statement, or
 * `out of memory` (53200) from then on, or a statement that never answers
 * (see `EmbeddedLimits.queryTimeoutMs`).
 */
export function isBrokenPglite(err: unknown): boolean {
  if (isWasmTrap(err) || err instanceof PgliteHung) return true;
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return false;
  return (
    (code === '24000' && /cannot drop active portal/i.test(message)) ||
    (code === '53200' && /out of memory/i.test(message))
  );
}

/** A statement that did not answer within `queryTimeoutMs`. */
class PgliteHung extends Error {
  constructor(ms: number) {
    super(`the embedded database did not answer within ${ms} ms`);
    this.name = 'PgliteHung';
  }
}

/**
 * Refused before it reaches PGlite: a parameter nested deeper than the limit,
 * which would crash it. SQLSTATE 54001, as Postgres answers such a value
 * (`stack depth limit exceeded`), so both modes turn it into `validation_failed`.
 */
class ValueTooDeep extends Error {
  readonly code = '54001';
  constructor(limit: number) {
    super(`stack depth limit exceeded: a parameter nests JSON deeper than ${limit} levels`);
    this.name = 'ValueTooDeep';
  }
}

/**
 * True when `value` nests deeper than `limit`: a string that starts as JSON
 * (`{` or `[`) is scanned for brackets outside its string literals, in one
 * pass; an object or array (sent as JSON) is walked. Any other string stops
 * at its first character.
 */
export function tooDeep(value: unknown, limit: number): boolean {
  if (typeof value === 'string') return stringTooDeep(value, limit);
  if (value === null || typeof value !== 'object' || value instanceof Date || ArrayBuffer.isView(value)) return false;
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [node, depth] = item;
    if (depth > limit) return true;
    for (const child of Object.values(node as object)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

function stringTooDeep(s: string, limit: number): boolean {
  const start = s.search(/\S/);
  if (start < 0 || (s[start] !== '{' && s[start] !== '[')) return false;
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * PGlite is loaded when the embedded mode opens its database, not with this module: the services
 * of the stack never load it (about 10 MB of JavaScript and WebAssembly per process), and their
 * bundles need not carry it (infra/scripts/build.mjs).
 */
async function createPglite(dir: string): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  return PGlite.create(dir);
}

async function closeQuietly(instance: PGlite): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  // A crashed instance usually traps again on close (`memory access out of bounds`, `Aborted()`).
  await Promise.race([instance.close().catch(() => {}), grace]);
  clearTimeout(timer);
}

/**
 * Owns the PGlite instance of one data directory and replaces it when it
 * crashes: the broken instance is closed (as far as it still can be) and the
 * directory opened again, which recovers it from the write-ahead log like any
 * Postgres after a crash. What was committed stays; a transaction that was in
 * flight is gone. One reopen at a time, whoever notices the crash first.
 */
class PGliteHost {
  readonly #dir: string;
  readonly #log: Logger;
  readonly limits: EmbeddedLimits;
  /** The healthy instance; undefined while it is being replaced, or after a failed reopen. */
  #current: PGlite | undefined;
  #reopening: Promise<PGlite> | undefined;
  #retryAt = 0;
  #closed = false;

  private constructor(dir: string, log: Logger, limits: EmbeddedLimits, first: PGlite) {
    this.#dir = dir;
    this.#log = log;
    this.limits = limits;
    this.#current = first;
  }

  static async open(dir: string, log: Logger, limits: EmbeddedLimits): Promise<PGliteHost> {
    return new PGliteHost(dir, log, limits, await createPglite(dir));
  }

  /** True while `instance` is the live one: a connection bound to an older one must not run anything. */
  isCurrent(instance: PGlite): boolean {
    return this.#current === instance;
  }

  /** The live instance; waits while a crashed one is being replaced. */
  async instance(): Promise<PGlite> {
    if (this.#closed) throw new EmbeddedDatabaseUnavailable('PGlite is closed');
    if (this.#current) return this.#current;
    if (this.#reopening) return this.#reopening;
    if (Date.now() < this.#retryAt)
      throw new EmbeddedDatabaseUnavailable('the embedded database could not be reopened');
    return this.#reopen(undefined);
  }

  /** `instance` is broken (see `isBrokenPglite`): drop it and start reopening the directory. */
  crashed(instance: PGlite, err: unknown): void {
    if (this.#current !== instance || this.#closed) return;
    this.#current = undefined;
    this.#log.error({ err }, 'the embedded database crashed: reopening it');
    this.#reopen(instance).catch(() => {
      // Logged in #reopen; the next query tries again.
    });
  }

  #reopen(broken: PGlite | undefined): Promise<PGlite> {
    const reopening = (async () => {
      if (broken) await closeQuietly(broken);
      let next: PGlite;
      try {
        next = await createPglite(this.#dir);
      } catch (err) {
        this.#retryAt = Date.now() + REOPEN_RETRY_MS;
        this.#log.error({ err }, 'the embedded database could not be reopened');
        throw new EmbeddedDatabaseUnavailable('the embedded database could not be reopened', err);
      }
      if (this.#closed) {
        await closeQuietly(next);
        throw new EmbeddedDatabaseUnavailable('PGlite is closed');
      }
      this.#current = next;
      this.#log.warn('the embedded database is open again');
      return next;
    })();
    this.#reopening = reopening;
    const settled = () => {
      if (this.#reopening === reopening) this.#reopening = undefined;
    };
    reopening.then(settled, settled);
    return reopening;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#reopening?.catch(() => {});
    const current = this.#current;
    this.#current = undefined;
    if (current) await current.close();
  }
}

/** The one connection, bound to the instance that was live when it was handed out. */
class PGliteConnection implements DatabaseConnection {
  readonly #host: PGliteHost;
  readonly #instance: PGlite;
  #release: (() => void) | undefined;

  constructor(host: PGliteHost, instance: PGlite, release: () => void) {
    this.#host = host;
    this.#instance = instance;
    this.#release = release;
  }

  /** False once its instance crashed: whatever it held (a transaction) died with it. */
  get live(): boolean {
    return this.#host.isCurrent(this.#instance);
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    if (!this.live) {
      throw new EmbeddedDatabaseUnavailable('the embedded database crashed while this connection was in use');
    }
    const { maxJsonDepth, queryTimeoutMs } = this.#host.limits;
    if (compiledQuery.parameters.some((p) => tooDeep(p, maxJsonDepth))) throw new ValueTooDeep(maxJsonDepth);
    const query = this.#instance.query<R>(compiledQuery.sql, [...compiledQuery.parameters]);
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PgliteHung(queryTimeoutMs)), queryTimeoutMs);
    });
    try {
      const result = await Promise.race([query, hung]);
      return result.affectedRows
        ? { numAffectedRows: BigInt(result.affectedRows), rows: result.rows }
        : { rows: result.rows };
    } catch (err) {
      if (!isBrokenPglite(err)) throw err;
      // A hung statement may still settle, on an instance nobody uses any more.
      query.catch(() => {});
      this.#host.crashed(this.#instance, err);
      throw new EmbeddedDatabaseUnavailable('the embedded database crashed and is being reopened', err);
    } finally {
      clearTimeout(timer);
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error('chunkSize must be a positive integer');
    const { rows } = await this.executeQuery<R>(compiledQuery);
    for (let i = 0; i < rows.length; i += chunkSize) yield { rows: rows.slice(i, i + chunkSize) };
  }

  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

/**
 * kysely's driver for the embedded database: PGlite's single connection,
 * handed to one caller at a time (the others queue), over an instance that is
 * replaced when it crashes. Callers keep their `Kysely` object throughout:
 * during a reopen their queries wait for it; a transaction that was open on
 * the crashed instance fails (`EmbeddedDatabaseUnavailable`, hence
 * `service_unavailable`) and its rollback is a no-op, since nothing of it was
 * committed.
 */
class PGliteDriver implements Driver {
  readonly #host: PGliteHost;
  /** Resolves when the connection is free. */
  #free: Promise<void> = Promise.resolve();

  constructor(host: PGliteHost) {
    this.#host = host;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#free;
    let release!: () => void;
    this.#free = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return new PGliteConnection(this.#host, await this.#host.instance(), release);
    } catch (err) {
      release();
      throw err;
    }
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'start transaction';
    if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) statement += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // The crashed instance took the transaction with it; the caller still gets the error that ended it.
    if (!(connection as PGliteConnection).live) return;
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release();
  }

  async destroy(): Promise<void> {
    await this.#host.close();
  }
}

/** kysely's Postgres dialect over a PGliteDriver. */
class PGliteDialect implements Dialect {
  readonly #host: PGliteHost;

  constructor(host: PGliteHost) {
    this.#host = host;
  }

  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.#host);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  // biome-ignore lint/suspicious/noExplicitAny: kysely's Dialect interface takes Kysely<any>.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

/**
 * The dialect of the embedded database in `dir`: opens PGlite there now (so
 * a directory that cannot be opened fails at startup), and reopens it
 * whenever it crashes.
 */
export async function embeddedDialect(
  dir: string,
  log: Logger,
  limits: Partial<EmbeddedLimits> = {},
): Promise<Dialect> {
  return new PGliteDialect(await PGliteHost.open(dir, log, { ...EMBEDDED_LIMITS, ...limits }));
}
