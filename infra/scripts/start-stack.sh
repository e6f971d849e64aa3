#!/usr/bin/env bash
# What `pnpm start:stack` runs: the five services as separate processes against NATS, Redis and
# Postgres (defaults: the local servers that infra/scripts/ensure-services.sh starts).
# Output lines are prefixed with [service]. Ctrl-C, SIGTERM or SIGHUP stops everything, and so does
# the end of the command that ran this script (a SIGTERM or SIGKILL to `pnpm start:stack`), see
# supervise.sh; if one service exits, the others are stopped and its exit code is returned.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source infra/scripts/ensure-pnpm.sh

export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export DATA_DIR="${DATA_DIR:-./.gatehouse}"
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/gatehouse
  # Create the default database once; without psql (or a reachable server) leave it to identity.
  if command -v psql >/dev/null; then
    admin=postgres://postgres@127.0.0.1:5432/postgres
    if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'gatehouse'" 2>/dev/null | grep -q 1; then
      psql "$admin" -qc 'CREATE DATABASE gatehouse' >/dev/null 2>&1 \
        && echo "[stack] created database gatehouse" \
        || echo "[stack] could not create database gatehouse at 127.0.0.1:5432, continuing"
    fi
  fi
fi

# Stack mode requires SECRET_KEY; keep a generated one in DATA_DIR so restarts can still decrypt.
if [ -z "${SECRET_KEY:-}" ]; then
  key_file="$DATA_DIR/secret.key"
  if [ ! -s "$key_file" ]; then
    mkdir -p "$DATA_DIR"
    (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(32).toString('base64'))" >"$key_file")
    chmod 600 "$key_file"
    echo "[stack] SECRET_KEY not set: generated one into $key_file"
  else
    echo "[stack] SECRET_KEY not set: using $key_file"
  fi
  SECRET_KEY="$(cat "$key_file")"
  export SECRET_KEY
fi

# Each service runs in its own session (setsid) so a Ctrl-C at the terminal reaches only this
# script, which forwards it once: the services treat a second signal as "exit now".
source infra/scripts/supervise.sh
start() {
  # The process substitution keeps $! the node pid (a pipe would give awk's); awk flushes each
  # line and ignores Ctrl-C, so it still prints the service's shutdown logs.
  "${supervise_detach[@]}" node --import tsx "services/$1/src/main.ts" \
    > >(trap '' INT HUP && exec awk -v p="[$1] " '{ print p $0; fflush() }') 2>&1 &
  children[$!]=$1
}
supervise_traps

for service in identity session mfa mailer; do start "$service"; done
start gateway # last: it serves traffic, the others answer its requests over NATS
supervise_watchdog

status=0 exited=''
wait -n -p exited "${!children[@]}" || status=$? # -p: bash >= 5.1
echo "[stack] ${children[${exited:-none}]:-a service} exited with status $status, stopping the others"
supervise_stop TERM "$status"
