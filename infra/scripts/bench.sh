#!/usr/bin/env bash
# `pnpm bench` / `npm run bench`: the benchmark in stack mode (pass --embedded for the one-process mode).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash infra/scripts/ensure-pnpm.sh
bash infra/scripts/ensure-services.sh
# The measured processes run the bundles, as `pnpm start` and the image do.
node infra/scripts/build.mjs
exec node --import tsx bench/src/run.ts "$@"
