#!/usr/bin/env bash
# `pnpm --filter <package> test` (or `pnpm turbo run test`): one package's *.test.ts with node:test,
# against the same PostgreSQL, Redis and NATS as `npm test` (started when absent). `npm test`
# (infra/scripts/test.sh) stays the one command that typechecks, lints and runs everything.
set -euo pipefail
package_dir=$PWD
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/infra/scripts/ensure-services.sh"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export TEST_NATS_URL="${TEST_NATS_URL:-nats://127.0.0.1:4222}"
mapfile -t files < <(find "$package_dir" -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no *.test.ts file in $package_dir"
  exit 0
fi
exec node --import tsx --test --test-concurrency=1 --test-timeout=120000 "$@" "${files[@]}"
