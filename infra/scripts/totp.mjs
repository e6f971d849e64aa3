#!/usr/bin/env node
// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) with node:crypto only: prints the current code of a
// base32 secret, for the README's curl walk-through (`node infra/scripts/totp.mjs <secret> [step offset]`).
// The end-to-end tests use it too, so they check the server against an implementation that is
// not the one under test (otplib).
import { createHmac } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** @param {string} input */
export function base32Decode(input) {
  const clean = input.replace(/=+$/, '').replace(/\s+/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/**
 * The code of `secret` for the 30-second step of `at`, shifted by `offset` steps.
 * @param {string} secret base32
 * @param {number} [offset]
 * @param {number} [at] epoch milliseconds
 */
export function totp(secret, offset = 0, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30) + offset));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const start = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(start) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [secret, offset] = process.argv.slice(2);
  if (!secret) {
    console.error('usage: node infra/scripts/totp.mjs <base32 secret> [step offset]');
    process.exit(1);
  }
  console.log(totp(secret, Number(offset ?? 0)));
}
