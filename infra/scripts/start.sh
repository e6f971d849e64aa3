#!/usr/bin/env bash
# What `npm start` / `pnpm start` runs: the embedded all-in-one mode (one process, no servers).
# Ctrl-C, SIGTERM or SIGHUP stops it, and so does the end of the command that ran this script (a
# SIGTERM or SIGKILL to `pnpm start`): see supervise.sh. Exits with the server's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source infra/scripts/ensure-pnpm.sh
source infra/scripts/supervise.sh

# The process runs the bundle (plain JavaScript, see build.mjs), built from the sources each start.
node infra/scripts/build.mjs embedded

supervise_traps
# Not `exec`: pnpm's SIGTERM would reach only its `sh -c` child, and leave the server running.
"${supervise_detach[@]}" node apps/embedded/dist/main.mjs &
children[$!]=gatehouse
supervise_watchdog

status=0
wait "${!children[@]}" || status=$?
supervise_stop TERM "$status"
