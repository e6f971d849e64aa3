#!/usr/bin/env bash
# What `npm start` / `pnpm start` runs: the embedded all-in-one mode (one process, no servers).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source infra/scripts/ensure-pnpm.sh
exec node --import tsx packages/embedded/src/main.ts
