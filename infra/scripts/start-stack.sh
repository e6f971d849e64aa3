#!/usr/bin/env bash
# What `pnpm start:stack` runs: the five services as separate processes against NATS, Redis and
# Postgres (defaults: the local servers that infra/scripts/ensure-services.sh starts), REPLICAS
# (default 1) processes of each: gateways on consecutive ports from PORT (8080), and, when
# OPS_PORT is set, the other services' operations ports on consecutive ports from it.
# It supervises them as an orchestrator would: a process that exits or dies is started again after
# a backoff (0.5 s, doubling to 30 s; back to 0.5 s once it has run 30 s) while the others keep
# serving. Output lines are prefixed with [service] (or [service-N]). Only Ctrl-C, SIGTERM or SIGHUP
# stops everything, and so does the end of the command that ran this script (a SIGTERM or SIGKILL
# to `pnpm start:stack`), see supervise.sh.
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

REPLICAS="${REPLICAS:-1}"
if ! [[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]]; then
  echo "[stack] REPLICAS must be a whole number >= 1, got \"$REPLICAS\"" >&2
  exit 2
fi
base_port="${PORT:-8080}"
# One deployment, one issuer: every replica signs and checks tokens for the same PUBLIC_URL (by
# default the first gateway's address, as a load balancer in front of them would be).
export PUBLIC_URL="${PUBLIC_URL:-http://localhost:$base_port}"

# The processes run the bundles (plain JavaScript, see build.mjs), built from the sources each start.
node infra/scripts/build.mjs gateway identity session mfa mailer

# Each service runs in its own session (setsid) so a Ctrl-C at the terminal reaches only this
# script, which forwards it once: the services treat a second signal as "exit now".
source infra/scripts/supervise.sh
supervise_pidfile="$(mktemp)"
declare -A replica_env=() started_at=() delay_ms=() # name -> its env; when it last started; next backoff
start() { # name service env...
  local name=$1 service=$2
  shift 2
  # The process substitution keeps $! the node pid (a pipe would give awk's); awk flushes each
  # line and ignores Ctrl-C, so it still prints the service's shutdown logs.
  "${supervise_detach[@]}" env "$@" node "services/$service/dist/main.mjs" \
    > >(trap '' INT HUP && exec awk -v p="[$name] " '{ print p $0; fflush() }') 2>&1 &
  children[$!]=$name
  replica_env[$name]="$service $*"
  started_at[$name]=$SECONDS
  supervise_record
}
supervise_traps

ops=0
for service in identity session mfa mailer; do
  for ((i = 1; i <= REPLICAS; i++)); do
    name=$service
    if [ "$REPLICAS" -gt 1 ]; then name="$service-$i"; fi
    extra=()
    if [ -n "${OPS_PORT:-}" ]; then extra=("OPS_PORT=$((OPS_PORT + ops))"); ops=$((ops + 1)); fi
    start "$name" "$service" "${extra[@]}"
  done
done
# Last: they serve traffic, the others answer their requests over NATS.
for ((i = 1; i <= REPLICAS; i++)); do
  name=gateway
  if [ "$REPLICAS" -gt 1 ]; then name="gateway-$i"; fi
  start "$name" gateway "PORT=$((base_port + i - 1))"
done
if [ "$REPLICAS" -gt 1 ]; then
  echo "[stack] $REPLICAS replicas of each service; gateways on ports $base_port-$((base_port + REPLICAS - 1))"
fi
supervise_watchdog

# Until a signal: a process that ended is started again after its backoff.
while :; do
  status=0 exited=''
  wait -n -p exited "${!children[@]}" || status=$? # -p: bash >= 5.1
  [ -n "$exited" ] || continue
  name=${children[$exited]}
  unset "children[$exited]"
  supervise_record
  # A process that ran a while before it ended starts over from the shortest wait.
  if [ $((SECONDS - started_at[$name])) -ge 30 ]; then delay_ms[$name]=500; fi
  delay=${delay_ms[$name]:-500}
  delay_ms[$name]=$((delay * 2 > 30000 ? 30000 : delay * 2))
  echo "[stack] $name exited with status $status; starting it again in $((delay / 1000)).$(((delay % 1000) / 100)) s"
  # In the background, so a signal meanwhile is handled at once.
  sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))" &
  wait $! || true
  read -r -a spec <<<"${replica_env[$name]}"
  start "$name" "${spec[@]}"
done
