import { parseArgs } from 'node:util';
import { DEFAULT_PROJECT_ID } from '@gatehouse/identity/operator';
import { createLogger, environment, loadConfig } from '@gatehouse/kit';
import {
  adminCreateCommand,
  migrateCommand,
  projectCreateCommand,
  projectKeysRotateCommand,
  usersListCommand,
} from './commands.ts';
import { readSecret } from './password-input.ts';
import { rotateKeys } from './rotate.ts';

// `pnpm gatehouse <command>`: operator commands, reading the same environment
// (and ./.env) as the services: DATABASE_URL in the stack, DATA_DIR's embedded
// database otherwise (stop Gatehouse first: PGlite serves one process at a time).
const USAGE = `usage: pnpm gatehouse <command>

  migrate                     Bring the database schema up to date (identity and mfa).
                              Safe to run again, and beside running replicas.
  admin create <email> [--name NAME]
                              Create an admin of the default project, address verified. The
                              password is read from standard input (piped: its first line;
                              a terminal: a prompt that does not echo), never from the command line.
  users list [--search TEXT] [--limit N]
                              List users, newest first (email or name matching TEXT; N to 1000, default 50).
  keys rotate                 Re-seal every sealed value under SECRET_KEY: the signing keys in Redis
                              (REDIS_URL) and the TOTP secrets in the database, and keep the
                              recovery-code keys of SECRET_KEY_PREVIOUS. Afterwards
                              SECRET_KEY_PREVIOUS can be removed.
  project create <name>       Create a project (tenant); prints its id, its publishable key and its
                              secret key (shown this once: only its hash is stored).
  project keys rotate <project-id|default>
                              New publishable and secret keys for the project; the old ones stop
                              working. This tool reaches no running gateway: they pick either change
                              up within their project reload interval (30 s) or at restart.

  Embedded mode (no DATABASE_URL): stop Gatehouse first.`;

const argv = process.argv.slice(2);
if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
  console.log(USAGE);
  process.exit(argv.length === 0 ? 2 : 0);
}

const fail = (message: string, code = 2): never => {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(code);
};

const print = (line: string) => console.log(line);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const command = argv.slice(0, 2).join(' ');
try {
  const config = loadConfig(environment());
  // Reports are printed; only warnings are logged.
  const log = createLogger({ service: 'cli', level: 'warn' });
  const options = { config, log, print };
  if (argv[0] === 'migrate' && argv.length === 1) {
    await migrateCommand(options);
  } else if (command === 'admin create') {
    const { positionals, values } = parseArgs({
      args: argv.slice(2),
      allowPositionals: true,
      options: { name: { type: 'string' } },
    });
    if (positionals.length !== 1) fail('admin create takes one email address (the password comes from stdin)');
    const password = await readSecret('password: ');
    const ok = await adminCreateCommand(options, {
      email: positionals[0] as string,
      password,
      ...(values.name !== undefined ? { name: values.name } : {}),
    });
    process.exit(ok ? 0 : 1);
  } else if (command === 'users list') {
    const { values } = parseArgs({
      args: argv.slice(2),
      options: { search: { type: 'string' }, limit: { type: 'string', default: '50' } },
    });
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) fail('--limit: a whole number from 1 to 1000');
    await usersListCommand(options, { limit, ...(values.search ? { search: values.search } : {}) });
  } else if (command === 'project create') {
    const { positionals } = parseArgs({ args: argv.slice(2), allowPositionals: true, options: {} });
    if (positionals.length !== 1) fail('project create takes one name (quote it if it has spaces)');
    process.exit((await projectCreateCommand(options, { name: positionals[0] as string })) ? 0 : 1);
  } else if (command === 'project keys' && argv[2] === 'rotate') {
    const { positionals } = parseArgs({ args: argv.slice(3), allowPositionals: true, options: {} });
    const target = positionals[0];
    if (positionals.length !== 1 || target === undefined) fail('project keys rotate takes one project id, or default');
    const projectId = target === 'default' ? DEFAULT_PROJECT_ID : (target as string);
    if (!UUID.test(projectId)) fail(`project keys rotate: ${target} is not a project id (a UUID) nor default`);
    process.exit((await projectKeysRotateCommand(options, { projectId })) ? 0 : 1);
  } else if (command === 'keys rotate' && argv.length === 2) {
    process.exit((await rotateKeys(options)) ? 0 : 1);
  } else {
    fail(`unknown command: ${argv.join(' ')}`);
  }
  process.exit(0);
} catch (err) {
  console.error(`${command} failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
