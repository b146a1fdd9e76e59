#!/usr/bin/env bash
# Install (if missing) and start PostgreSQL 15 and Redis on loopback, and install Chromium for the browser tests. Idempotent: safe to run again.
# Used by `make test` and .ci/run; `make run` needs neither (SQLite + filesystem broker).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# PostgreSQL: start the cluster, make a role and database for the tests.
cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1" "$2}')
if [ -z "$cluster" ]; then
  $SUDO pg_createcluster 15 main >/dev/null
  cluster="15 main"
fi
read -r ver name <<<"$cluster"
port=$(pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $3}')
if ! pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $4}' | grep -q online; then
  $SUDO pg_ctlcluster "$ver" "$name" start -o "-c listen_addresses=127.0.0.1"
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.5; done
runuser -u postgres -- psql -p "$port" -qtAc "SELECT 1 FROM pg_roles WHERE rolname='fineweb'" | grep -q 1 \
  || runuser -u postgres -- psql -p "$port" -qc "CREATE ROLE fineweb LOGIN SUPERUSER PASSWORD 'fineweb'"
runuser -u postgres -- psql -p "$port" -qtAc "SELECT 1 FROM pg_database WHERE datname='fineweb'" | grep -q 1 \
  || runuser -u postgres -- psql -p "$port" -qc "CREATE DATABASE fineweb OWNER fineweb"

# Redis on loopback only, no persistence needed for tests.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no >/dev/null
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
if ! command -v chromium >/dev/null; then $SUDO apt-get update -qq; $SUDO apt-get install -y -qq chromium >/dev/null; fi
echo "postgres on 127.0.0.1:$port, redis on 127.0.0.1:6379"
echo "PG_PORT=$port" > "${SERVICES_ENV_FILE:-/tmp/fineweb-services.env}"
