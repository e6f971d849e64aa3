// `pnpm build`: one JavaScript file per deployable, what `pnpm start`, `pnpm start:stack`, the
// image and `pnpm bench` run. Each service (services/<name>/dist/main.mjs), the embedded mode
// (apps/embedded/dist/main.mjs) and the CLI (apps/cli/dist/main.mjs) is bundled by esbuild with the
// workspace packages and the npm packages inside it, so a process loads plain JavaScript: no
// TypeScript loader thread, no compiled-file cache, one module instead of about two thousand
// (the gateway at rest: 160 MB of RSS under tsx, 100 MB from its bundle). The tests run the sources.
//
// Left outside the bundles, loaded from node_modules at run time (each is a dependency of the
// package whose bundle loads it): packages that find their own files next to their code (the
// Swagger UI's static files, PGlite's WebAssembly), the argon2 native addon, and the optional
// native helpers pg and ws try to load. Beside each bundle: the files its code reads next to
// itself (the gateway's verification worker, bundled too, and its confirm page; the mailer's
// templates). Source maps are written (`.map`); `NODE_OPTIONS=--enable-source-maps` uses them.
//
// `node infra/scripts/build.mjs [name...]` builds the named deployables only (gateway, identity,
// session, mfa, mailer, embedded, cli); a build takes about a second each. `--out DIR` writes
// DIR/<name>/ instead of each one's dist/ (the tests build there, beside what may be running).
// A build is written beside dist/ and moved in place at the end: a process started from dist/ meanwhile
// still finds whole files.
import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

const EXTERNAL = [
  '@fastify/swagger-ui',
  '@electric-sql/pglite',
  '@node-rs/argon2',
  'pg-native',
  'bufferutil',
  'utf-8-validate',
];

const GATEWAY_FILES = ['services/gateway/src/pages/confirm.page.html'];
const MAILER_TEMPLATES = 'services/mailer/templates';

/** name -> its directory, and what it carries beside its bundle. */
const DEPLOYABLES = {
  gateway: { dir: 'services/gateway', gateway: true },
  identity: { dir: 'services/identity' },
  session: { dir: 'services/session' },
  mfa: { dir: 'services/mfa' },
  mailer: { dir: 'services/mailer', mailer: true },
  embedded: { dir: 'apps/embedded', gateway: true, mailer: true },
  cli: { dir: 'apps/cli' },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: EXTERNAL,
  // The CommonJS packages inside an ES module still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __gatehouseRequire } from 'node:module';\nconst require = __gatehouseRequire(import.meta.url);",
  },
  // Class and function names as in the sources: errors are logged and matched by name.
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
};

async function buildOne(name, outRoot) {
  const spec = DEPLOYABLES[name];
  const final = outRoot ? join(outRoot, name) : join(root, spec.dir, 'dist');
  const out = `${final}.${process.pid}.tmp`;
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const entryPoints = { main: join(root, spec.dir, 'src/main.ts') };
  // The verification worker is a file of its own (new URL('./jwt-check.mjs', import.meta.url)).
  if (spec.gateway) entryPoints['jwt-check'] = join(root, 'services/gateway/src/auth/jwt-check.mjs');
  await build({ ...common, entryPoints, outdir: out, outExtension: { '.js': '.mjs' } });
  if (spec.gateway) {
    for (const file of GATEWAY_FILES) await cp(join(root, file), join(out, file.slice(file.lastIndexOf('/') + 1)));
  }
  if (spec.mailer) await cp(join(root, MAILER_TEMPLATES), join(out, 'templates'), { recursive: true });
  await rm(final, { recursive: true, force: true });
  await rename(out, final);
  return relative(root, join(final, 'main.mjs'));
}

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const outRoot = outAt >= 0 ? resolve(args[outAt + 1] ?? '.') : undefined;
const wanted = outAt >= 0 ? args.filter((_, i) => i !== outAt && i !== outAt + 1) : args;
const unknown = wanted.filter((name) => !(name in DEPLOYABLES));
if (unknown.length > 0) {
  console.error(`build: no deployable named ${unknown.join(', ')} (one of ${Object.keys(DEPLOYABLES).join(', ')})`);
  process.exit(2);
}
const started = performance.now();
const built = await Promise.all(
  (wanted.length > 0 ? wanted : Object.keys(DEPLOYABLES)).map((name) => buildOne(name, outRoot)),
);
console.error(`build: ${built.join(', ')} in ${Math.round(performance.now() - started)} ms`);
