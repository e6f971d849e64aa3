#!/usr/bin/env node
// Prints the link (or, with --token, only its token) of the newest mail in the embedded mode's
// outbox, DATA_DIR/outbox: the README's curl walk-through uses it in place of a mail client.
// Usage: node infra/scripts/last-link.mjs [--token] [--data-dir DIR]
//
// Which outbox: the one of DATA_DIR when given (--data-dir, or the environment). Otherwise the
// newest mail of the outboxes of the embedded servers running here (their DATA_DIR, from their
// environment or the `.env` of their working directory, resolved from it: what they use; Linux),
// and of the DATA_DIR a server started here would use: a `.env` file's (the working directory's,
// then the repository's, where `pnpm start` runs the server), else ./.gatehouse. A relative
// directory is looked for from the working directory, then from the repository root.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const flag = args.indexOf('--data-dir');
const given = flag >= 0 ? args[flag + 1] : undefined;
if (flag >= 0 && !given) {
  console.error('usage: node infra/scripts/last-link.mjs [--token] [--data-dir DIR]');
  process.exit(2);
}

/** DATA_DIR of the `.env` file `file`, if it has one. */
function envFileDataDir(file) {
  try {
    return parseEnv(readFileSync(file, 'utf8')).DATA_DIR || undefined;
  } catch {
    return undefined;
  }
}

/** The data directories of the embedded servers running on this machine (Linux: /proc). */
function runningServers() {
  if (!existsSync('/proc/self/environ')) return [];
  const dirs = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/apps\/embedded\/src\/main\.ts/.test(cmdline)) continue;
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const own = environ.find((entry) => entry.startsWith('DATA_DIR='))?.slice('DATA_DIR='.length);
      dirs.push(resolve(cwd, own || envFileDataDir(join(cwd, '.env')) || './.gatehouse'));
    } catch {
      // gone, or not ours to read
    }
  }
  return dirs;
}

const fromHere = (dir) => [resolve(dir), resolve(root, dir)];
const candidates = given
  ? fromHere(given)
  : process.env.DATA_DIR
    ? fromHere(process.env.DATA_DIR)
    : [
        ...runningServers(),
        ...fromHere(envFileDataDir(resolve('.env')) || envFileDataDir(join(root, '.env')) || './.gatehouse'),
      ];
const outboxes = [...new Set(candidates)].map((dir) => join(dir, 'outbox'));

/** The newest mail of all the outboxes: names start with the time the mail was written. */
let newest;
for (const outbox of outboxes) {
  let names = [];
  try {
    names = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
  } catch {
    continue; // not there
  }
  for (const name of names) {
    const file = join(outbox, name);
    const mtime = statSync(file).mtimeMs;
    if (!newest || mtime > newest.mtime || (mtime === newest.mtime && name > newest.name)) {
      newest = { file, name, mtime };
    }
  }
}
if (!newest) {
  console.error(
    `no mail in ${outboxes.join(' or ')} (is Gatehouse running in embedded mode without SMTP_URL? ` +
      "pass the server's DATA_DIR, in the environment or with --data-dir)",
  );
  process.exit(1);
}
const raw = readFileSync(newest.file, 'utf8');
// The text part is quoted-printable: undo soft line breaks and the escaped '='.
const text = raw.replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
const match = /https?:\/\/[^\s"<>]+[?&]token=([A-Za-z0-9_-]+)[^\s"<>]*/.exec(text);
if (!match) {
  console.error(`the newest mail (${newest.file}) has no link with a token`);
  process.exit(1);
}
console.log(args.includes('--token') ? match[1] : match[0]);
