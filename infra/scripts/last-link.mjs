#!/usr/bin/env node
// Prints the link (or, with --token, only its token) of the newest mail in the embedded
// mode's outbox (DATA_DIR/outbox, ./.gatehouse/outbox by default): the README's curl
// walk-through uses it in place of a mail client. Usage: node infra/scripts/last-link.mjs [--token]
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const outbox = join(resolve(process.env.DATA_DIR || './.gatehouse'), 'outbox');
let files;
try {
  files = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
} catch {
  files = [];
}
if (files.length === 0) {
  console.error(`no mail in ${outbox} (is Gatehouse running in embedded mode without SMTP_URL?)`);
  process.exit(1);
}
// Names start with the time the mail was written, so the newest sorts last.
const newest = files.sort().at(-1);
const raw = readFileSync(join(outbox, newest), 'utf8');
// The text part is quoted-printable: undo soft line breaks and the escaped '='.
const text = raw.replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
const match = /https?:\/\/[^\s"<>]+[?&]token=([A-Za-z0-9_-]+)[^\s"<>]*/.exec(text);
if (!match) {
  console.error(`the newest mail (${newest}) has no link with a token`);
  process.exit(1);
}
console.log(process.argv.includes('--token') ? match[1] : match[0]);
