#!/usr/bin/env bash
# What `npm test` runs: typecheck, lint, then every *.test.ts with node:test. The last line of
# output is always `N passed, N failed` (summary-reporter.mjs), the line CI reads; the exit code
# is node's. A step that fails before the tests ends the run as one failure.
set -euo pipefail
export NO_COLOR=1
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

fail() { # message: ends the run before the tests, keeping the summary line last
  echo "$1: tests not run"
  echo "0 passed, 1 failed"
  exit 1
}

source infra/scripts/ensure-pnpm.sh || fail "installing pnpm or the dependencies failed"
bash infra/scripts/ensure-services.sh || fail "starting PostgreSQL, Redis or NATS failed"

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export TEST_NATS_URL="${TEST_NATS_URL:-nats://127.0.0.1:4222}"

pnpm run typecheck || fail "typecheck failed"
pnpm run lint || fail "lint failed"

mapfile -t files < <(find apps services packages tests -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no *.test.ts file found under apps/, services/, packages/ or tests/"
  echo "0 passed, 0 failed"
  exit 1
fi

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
node --import tsx --test --test-concurrency=1 --test-timeout=300000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./infra/scripts/summary-reporter.mjs --test-reporter-destination="$summary" \
  "${files[@]}" || status=$?

if [ -s "$summary" ]; then
  tail -n1 "$summary"
else
  # node died before its reporters finished; count the run itself as the one failure.
  echo "the test runner exited with status $status without a summary"
  echo "0 passed, 1 failed"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
