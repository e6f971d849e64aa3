import { createLogger, environment, loadConfig } from '@gatehouse/kit';
import { rotateKeys } from './rotate.ts';

// `pnpm gatehouse <command>`: operator commands, reading the same environment
// (and ./.env) as the services.
const USAGE = `usage: pnpm gatehouse keys rotate

  keys rotate   Re-seal every sealed value under SECRET_KEY: the signing keys in Redis
                (REDIS_URL) and the TOTP secrets in the database (DATABASE_URL, or the
                embedded one in DATA_DIR), and keep the recovery-code keys of
                SECRET_KEY_PREVIOUS. Afterwards SECRET_KEY_PREVIOUS can be removed.
                Embedded mode: stop Gatehouse first.`;

const args = process.argv.slice(2);
if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(args.length === 0 ? 2 : 0);
}
if (args[0] !== 'keys' || args[1] !== 'rotate' || args.length !== 2) {
  console.error(`unknown command: ${args.join(' ')}\n\n${USAGE}`);
  process.exit(2);
}

try {
  const config = loadConfig(environment());
  // The report is printed; only warnings are logged (a kept key that does not open, a Redis error).
  const log = createLogger({ service: 'cli', level: 'warn' });
  const ok = await rotateKeys({ config, log, print: (line) => console.log(line) });
  process.exit(ok ? 0 : 1);
} catch (err) {
  console.error(`keys rotate failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
