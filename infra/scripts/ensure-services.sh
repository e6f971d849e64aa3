#!/usr/bin/env bash
# Makes sure PostgreSQL (5432), Redis (6379) and NATS with JetStream (4222) answer on 127.0.0.1,
# for the integration tests, that headless Chromium is installed for the browser tests, and
# docker-compose for the deployment manifests' test. A server already answering is left alone. Otherwise the Debian
# package is installed if missing and the server started without systemd (CI containers have
# no systemd). Silent when everything is already up.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# `timeout` because a connect to a filtered port could hang instead of being refused.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

apt_updated=no
need_package() { # installs Debian package $1 unless it is installed
  if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; then return 0; fi
  echo "ensure-services: installing $1" >&2
  if [ "$apt_updated" = no ]; then apt-get update -qq >&2; apt_updated=yes; fi
  apt-get install -y -qq "$1" >&2
}

wait_for() { # name port [command that must also succeed]
  local name=$1 port=$2 i
  shift 2
  for ((i = 0; i < 30; i++)); do
    if port_open "$port" && { [ $# -eq 0 ] || "$@" >/dev/null 2>&1; }; then return 0; fi
    sleep 1
  done
  echo "ensure-services: $name did not answer on 127.0.0.1:$port within 30 s" >&2
  exit 1
}

# --- PostgreSQL ---
if ! port_open 5432; then
  need_package postgresql
  ver=$(pg_lsclusters -h | awk '$2 == "main" { print $1 }' | sort -V | tail -n1)
  if [ -z "$ver" ]; then # the package's postinst normally creates the cluster; make sure
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
    pg_createcluster "$ver" main >&2
  fi
  # A fresh Debian cluster wants a password over TCP; the tests connect as postgres without one.
  # pg_hba.conf is first-match, so the trust lines go first. The marker keeps this idempotent.
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q 'gatehouse: local tests' "$hba"; then
    sed -i '1i # gatehouse: local tests connect without a password over loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  # The install may have started the cluster already (then reload so the new rules apply).
  if pg_ctlcluster "$ver" main status >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2
  else
    echo "ensure-services: starting PostgreSQL $ver" >&2
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2
  fi
  wait_for PostgreSQL 5432 pg_isready -q -h 127.0.0.1 -p 5432
fi

# --- Redis ---
if ! port_open 6379; then
  need_package redis-server
  echo "ensure-services: starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis
  # No persistence: a test server. --bind lists both loopbacks; '-' makes ::1 optional (no IPv6).
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 6379 redis-cli -h 127.0.0.1 -p 6379 ping
fi

# --- NATS with JetStream ---
if ! port_open 4222; then
  need_package nats-server
  echo "ensure-services: starting NATS (JetStream)" >&2
  mkdir -p /var/lib/nats-server
  # The pid file makes start-stop-daemon look at our instance only: any other nats-server
  # process (on another port) would otherwise count as "already running".
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /run/gatehouse-nats.pid \
    --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for NATS 4222
fi

# --- Chromium (the confirm page's tests drive it with playwright-core; no browser download) ---
need_package chromium

# --- docker-compose (tests/infra/deploy-manifests.test.ts validates docker-compose.yml with
# `docker-compose config -q`, offline: no Docker engine needed) ---
command -v docker-compose >/dev/null 2>&1 || need_package docker-compose
