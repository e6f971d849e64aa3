/**
 * The environment of an embedded Gatehouse that a test or the bench starts:
 * one process on `port` with its data (embedded Postgres, the secret key, the
 * outbox) in `dataDir`. The server settings are blanked, so nothing in the
 * caller's environment (a developer's DATABASE_URL, REDIS_URL, NATS_URL or
 * SECRET_KEY) turns it into a half-stack.
 */
export function embeddedEnv(port: number, dataDir: string): Record<string, string> {
  return {
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: '',
    REDIS_URL: '',
    NATS_URL: '',
    SECRET_KEY: '',
  };
}
