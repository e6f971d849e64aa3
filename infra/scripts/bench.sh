#!/usr/bin/env bash
# `pnpm bench` / `npm run bench`: the benchmark in stack mode (pass --embedded for the one-process mode).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/scripts/ensure-pnpm.sh
bash infra/scripts/ensure-services.sh
exec node --import tsx bench/src/run.ts "$@"
