import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { environment, loadConfig } from './config.ts';

test('a .env file fills in variables; the real environment wins over it; no file is fine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-env-'));
  const file = join(dir, '.env');
  writeFileSync(file, 'GH_TEST_FROM_FILE=file\nGH_TEST_BOTH=file\nPORT=9999\n');
  process.env.GH_TEST_BOTH = 'environment';
  try {
    const env = environment(file);
    assert.equal(env.GH_TEST_FROM_FILE, 'file');
    assert.equal(env.GH_TEST_BOTH, 'environment');
    assert.equal(loadConfig({ PORT: env.PORT }).port, 9999);
    assert.equal(environment(join(dir, 'missing.env')), process.env);
  } finally {
    for (const k of ['GH_TEST_FROM_FILE', 'GH_TEST_BOTH', 'PORT']) delete process.env[k];
    rmSync(dir, { recursive: true, force: true });
  }
});
