import type { Logger } from '@gatehouse/kit';
import pg from 'pg';

/** Connection limits of the stack's pool; each one exists so a dead Postgres fails fast instead of hanging. */
export const POOL_LIMITS = {
  max: 10,
  // A refused or silent server must become `service_unavailable` well within a bus timeout (5 s).
  connectionTimeoutMillis: 2_000,
  // Server side: Postgres cancels a statement running longer than this.
  statement_timeout: 4_000,
  // Client side: covers a server that stopped answering without closing the socket.
  query_timeout: 4_500,
  idleTimeoutMillis: 30_000,
} as const;

/**
 * After a client-side query timeout, node-postgres keeps the connection, which
 * still waits for the timed-out answer: every later query on it would queue
 * behind that one and time out too. Ending the client (pg destroys the socket
 * of a client with a query in flight) makes the pool drop it when kysely
 * releases it, so the next query gets a fresh connection.
 */
function endOnQueryTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  Object.assign(client, {
    query: (...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) {
        // A side branch only: the caller still receives the rejection.
        result.catch((err: unknown) => {
          if (err instanceof Error && err.message === 'Query read timeout') void client.end();
        });
      }
      return result;
    },
  });
}

/**
 * A node-postgres pool for `connectionString` that survives Postgres going
 * away: failed connections are dropped and replaced on the next query, so the
 * service recovers by itself when the server returns.
 */
export function createPool(connectionString: string, log: Logger, overrides: Partial<pg.PoolConfig> = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, ...POOL_LIMITS, ...overrides });
  // An idle client loses its server (restart, failover): without a listener the
  // 'error' event would crash the process. The pool drops that client itself.
  pool.on('error', (err) => log.warn({ err }, 'postgres connection lost'));
  pool.on('connect', (client) => {
    // A connection that dies while checked out (mid-query) emits 'error' on its
    // client, where neither pg-pool nor kysely listens: unhandled, it would crash
    // the process on a Postgres restart. The query itself already fails.
    client.on('error', (err) => log.warn({ err }, 'postgres connection lost during a query'));
    endOnQueryTimeout(client);
  });
  return pool;
}
