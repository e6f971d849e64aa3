#!/usr/bin/env node
// Generates Redis ACL users for the three services that use Redis, and their REDIS_URLs.
//
//   node infra/scripts/redis-users.mjs [--out DIR] [--host redis] [--port 6379] [--tls] [--rotate]
//
// Writes, in DIR (default infra/redis/keys, git-ignored):
//   users.acl     for `redis-server --aclfile`: the default user off, `gateway`, `session` and
//                 `identity` with SHA-256 hashed passwords (the file holds no password)
//   gateway.env   REDIS_URL=redis://gateway:<password>@<host>:<port>  (secret)
//   session.env   REDIS_URL=redis://session:<password>@<host>:<port>  (secret)
//   identity.env  REDIS_URL=redis://identity:<password>@<host>:<port>  (secret)
// Existing passwords are kept (read back from the .env files) unless --rotate; --tls writes rediss://.
// A user added by a newer release (identity) gets its password on the next run; restart Redis then.
//
// Each user reaches only its own keys: the gateway its rate-limit counters (gh:{rl}:*), the session
// service the session store (its key families under gh:, listed in sessions.store.redis.lua.ts), and
// identity its social sign-in flows (gh:oauth:*). None may run the @dangerous commands (FLUSHALL,
// KEYS, CONFIG, DEBUG, ACL...) except INFO, which ioredis sends to learn the server is ready, nor
// list key names (SCAN, RANDOMKEY), but the session service may SCAN (see its rules).
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The ACL rules of each user, after its password. */
const USERS = {
  // gh:{rl}:* (one hash slot: a sign-in's counters are claimed in one script); gh:rl:* was the
  // name before, kept while gateways of the earlier release may still run.
  gateway:
    '~gh:{rl}:* ~gh:rl:* resetchannels -@all +@read +@write +@scripting +@connection +@transaction -@dangerous -scan -randomkey +info',
  // The session store's keys (services/session/src/sessions/sessions.store.redis.lua.ts): its 256
  // shards (gh:{00}... gh:{ff}: sessions, refresh-token records, token families, user indexes,
  // revocations), the signing keys (gh:{keys}:*), and what the layout before shards wrote (gh:s:*,
  // gh:rt:*, gh:sf:*, gh:u:*, gh:revoked, gh:keys*) with the pointers its move leaves (gh:legacy:*).
  // Not `~gh:*`, which would hand it the rate limits and the sign-in flows too; a new key family
  // there needs a pattern here (redis-auth.int.test.ts runs the store as this user). SCAN, for that
  // move alone (RedisSessionStore.migrateLegacyLayout): this service holds the signing keys already.
  session:
    '~gh:{[0-9a-f][0-9a-f]}* ~gh:{keys}:* ~gh:legacy:* ~gh:s:* ~gh:rt:* ~gh:sf:* ~gh:u:* ~gh:revoked ~gh:keys ~gh:keys:* resetchannels -@all +@read +@write +@scripting +@connection +@transaction -@dangerous +scan -randomkey +info',
  // Social sign-in's state, exchange codes and link tokens (SET with EX, then GETDEL).
  identity:
    '~gh:oauth:* resetchannels -@all +@read +@write +@scripting +@connection +@transaction -@dangerous -scan -randomkey +info',
};

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'infra/redis/keys') },
    host: { type: 'string', default: 'redis' },
    port: { type: 'string', default: '6379' },
    tls: { type: 'boolean', default: false },
    rotate: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: node infra/scripts/redis-users.mjs [--out DIR] [--host redis] [--port 6379] [--tls] [--rotate]');
  process.exit(0);
}

const out = resolve(values.out);
// As for the nkeys: the 0700 directory protects the secrets on the host; the files are 0644 so a
// container under any uid can read the one docker-compose hands it.
mkdirSync(out, { recursive: true, mode: 0o700 });
chmodSync(out, 0o700);

// Nobody may connect without a user: the default user is off and has no rights. (An ACL file takes
// no comments: Redis refuses to start on any line that is not `user ...`.)
const acl = ['user default off resetpass resetkeys resetchannels -@all'];
for (const [user, rules] of Object.entries(USERS)) {
  const envFile = join(out, `${user}.env`);
  let password;
  if (existsSync(envFile) && !values.rotate) {
    const url = /^REDIS_URL=(.+)$/m.exec(readFileSync(envFile, 'utf8'))?.[1];
    password = url ? decodeURIComponent(new URL(url).password) : undefined;
    if (!password) throw new Error(`${envFile} holds no REDIS_URL with a password; delete it or pass --rotate`);
  } else {
    password = randomBytes(32).toString('hex'); // hex: nothing to percent-encode in the URL
  }
  const scheme = values.tls ? 'rediss' : 'redis';
  const url = `${scheme}://${user}:${encodeURIComponent(password)}@${values.host}:${values.port}`;
  writeFileSync(envFile, `REDIS_URL=${url}\n`, { mode: 0o644 });
  chmodSync(envFile, 0o644);
  acl.push(`user ${user} on #${createHash('sha256').update(password).digest('hex')} ${rules}`);
}
writeFileSync(join(out, 'users.acl'), `${acl.join('\n')}\n`, { mode: 0o644 });

const shown = relative(process.cwd(), out) || '.';
console.log(
  `Redis users in ${shown}/: users.acl (for redis-server --aclfile), gateway.env, session.env and identity.env (REDIS_URL, secret)`,
);
