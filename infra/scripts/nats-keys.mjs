#!/usr/bin/env node
// Generates the NATS nkeys of the five services, for infra/nats/nats-server.conf.
//
//   node infra/scripts/nats-keys.mjs [--out DIR] [--rotate]
//
// Writes, in DIR (default infra/nats/keys, git-ignored):
//   <service>.nk   the service's nkey user seed (SU...): its NATS_NKEY, secret
//   public.env     NKEY_<SERVICE>=U... lines: the public keys, for the NATS server (not secret)
// An existing seed is kept (its public key is re-derived), so running it again is harmless;
// --rotate replaces every seed (restart NATS with the new public.env, then the services).
//
// Keys are made by @nats-io/nkeys (a dependency of packages/kit): run `pnpm install` first.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'packages/kit/package.json'));
const { createUser, fromSeed } = require('@nats-io/nkeys');

const SERVICES = ['gateway', 'identity', 'session', 'mfa', 'mailer'];

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'infra/nats/keys') },
    rotate: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node infra/scripts/nats-keys.mjs [--out DIR] [--rotate]');
  process.exit(0);
}

const out = resolve(values.out);
// The directory keeps the seeds from other users of this machine (0700). The seed files themselves
// are 0644 so a container running under any uid (the services run as uid 1000) can read the file
// docker-compose bind-mounts as a secret; the directory is what protects them on the host.
mkdirSync(out, { recursive: true, mode: 0o700 });
chmodSync(out, 0o700);

const decoder = new TextDecoder();
const lines = [];
for (const service of SERVICES) {
  const file = join(out, `${service}.nk`);
  let pair;
  if (existsSync(file) && !values.rotate) {
    const seed = readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l.startsWith('SU'));
    if (!seed) throw new Error(`${file} holds no nkey user seed; delete it or pass --rotate`);
    pair = fromSeed(new TextEncoder().encode(seed));
  } else {
    pair = createUser();
    writeFileSync(file, `${decoder.decode(pair.getSeed())}\n`, { mode: 0o644 });
  }
  chmodSync(file, 0o644);
  lines.push(`NKEY_${service.toUpperCase()}=${pair.getPublicKey()}`);
}
const publicEnv = join(out, 'public.env');
writeFileSync(
  publicEnv,
  `# Public nkeys of the Gatehouse services, for infra/nats/nats-server.conf (not secret).\n${lines.join('\n')}\n`,
);

const shown = relative(process.cwd(), out) || '.';
console.log(`nkeys in ${shown}/: ${SERVICES.map((s) => `${s}.nk`).join(', ')} (seeds, secret) and public.env`);
console.log(lines.join('\n'));
