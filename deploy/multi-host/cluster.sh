#!/usr/bin/env bash
# Several corral "hosts" behind HAProxy, sharing one PostgreSQL primary, its
# streaming replica and one Redis: the deployment of docs/scale-out.md, run
# for real on one machine. Each host is a `corral` of its own, with its own
# workers, bound on its own loopback address (127.0.0.2, 127.0.0.3, ...), as
# separate machines would each have their own address. Everything it starts
# lives in DIR and is stopped by `down`; the machine's own PostgreSQL and
# Redis are never touched.
#
#   cluster.sh up DIR [--hosts N] [--replica-delay MS] [--max-lag MS]
#                                  start it all (N = 2); the replica applies
#                                  each commit MS late; the app sets a replica
#                                  aside beyond --max-lag (APP_DB_REPLICA_MAX_LAG)
#   cluster.sh deploy DIR          rolling reload: one host at a time
#   cluster.sh stop-host DIR I     SIGTERM host I's supervisor, wait for it
#   cluster.sh start-host DIR I    start host I again
#   cluster.sh down DIR            stop everything, by pid, and remove DIR
#
# `up` writes DIR/cluster.env (shell syntax): the balancer's address, each
# host's and its admin endpoint's, the database and Redis URLs. The
# binaries are $CORRAL and $APP (default: target/release/ of this checkout).
# Run as root, it runs PostgreSQL as the `postgres` user (PostgreSQL refuses
# root) and installs HAProxy from Debian's packages if it is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
CORRAL=${CORRAL:-$root/target/release/corral}
APP=${APP:-$root/target/release/app}

die() { echo "cluster: $*" >&2; exit 1; }

# A TCP port nobody listens on at ADDR (the kernel picks it).
free_port() {
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# PostgreSQL's programs; run as `postgres` when we are root.
pg_bin() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$dir/initdb" ] || dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -x "$dir/initdb" ] || die "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
  echo "$dir"
}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

host_addr() { echo "127.0.0.$(($1 + 1))"; }

# host I's ecosystem: two workers on its own address, its admin endpoint on
# the same address (what HAProxy checks), a shutdown delay longer than the
# balancer needs to take it out of rotation (3 checks of 200 ms).
write_host() {
  local dir=$1 i=$2 addr port admin
  addr=$(host_addr "$i")
  port=$(free_port "$addr")
  admin=$(free_port "$addr")
  mkdir -p "$dir/host$i"
  cat > "$dir/host$i/ecosystem.toml" <<EOF
[supervisor]
log_dir = "logs"
control_socket = "run/corral.sock"
admin_listen = "$addr:$admin"
shutdown_delay = "1s"

[[apps]]
name = "api"
command = "$APP"
instances = 2
listen = ["$addr:$port"]
wait_ready = true
listen_timeout = "20s"
kill_timeout = "15s"
health_check = { path = "/health/live" }

[apps.env]
DATABASE_URL = "$PRIMARY_URL"
DATABASE_REPLICA_URLS = "$REPLICA_URL"
REDIS_URL = "$REDIS_URL"
APP_DRAIN_TIMEOUT = "10s"
APP_LOG = "warn"
${MAX_LAG:+APP_DB_REPLICA_MAX_LAG = \"${MAX_LAG}ms\"}
EOF
  echo "HOST$i=$addr:$port"
  echo "ADMIN$i=$addr:$admin"
}

start_host() {
  "$CORRAL" start "$1/host$2/ecosystem.toml" >/dev/null
}

stop_host() {
  local sock=$1/host$2/run/corral.sock pid
  [ -S "$sock" ] || return 0
  pid=$("$CORRAL" status --json --socket "$sock" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["supervisor"]["pid"])') || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

haproxy_config() {
  local dir=$1 hosts=$2 i addr
  cat <<EOF
global
  pidfile $dir/haproxy.pid
  stats socket $dir/haproxy.sock mode 600 level admin

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  # A request that found a connection refused or closed before any answer
  # (a host that just stopped) goes to another host.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response

frontend web
  bind $LB
  default_backend hosts

backend hosts
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
  default-server inter 200ms fall 1 rise 2
EOF
  for i in $(seq 1 "$hosts"); do
    addr=$(host_addr "$i")
    local host="HOST$i" admin="ADMIN$i"
    local admin_addr=${!admin}
    echo "  server host$i ${!host} check addr $addr port ${admin_addr##*:}"
  done
}

up() {
  local dir=$1 hosts=2 delay=0
  MAX_LAG=
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --hosts) hosts=$2; shift 2 ;;
      --replica-delay) delay=$2; shift 2 ;;
      --max-lag) MAX_LAG=$2; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  [ -x "$CORRAL" ] && [ -x "$APP" ] || die "build first: $CORRAL and $APP must exist"
  command -v haproxy >/dev/null || {
    [ "$(id -u)" = 0 ] || die "HAProxy is not installed (apt-get install haproxy)"
    apt-get update -qq && apt-get install -y -qq haproxy >/dev/null
  }
  command -v redis-server >/dev/null || die "redis-server is not installed"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local bin env=$dir/cluster.env
  bin=$(pg_bin)
  : > "$env"

  # PostgreSQL: a primary, and a streaming replica cloned from it.
  mkdir -p "$dir/pg"
  if [ "$(id -u)" = 0 ]; then
    chmod o+x "$dir"
    chown postgres "$dir/pg"
    runuser -u postgres -- test -x "$dir/pg" ||
      die "the postgres user cannot reach $dir: give its parent folders o+x, or use another folder"
  fi
  local pp rp
  pp=$(free_port 127.0.0.1)
  rp=$(free_port 127.0.0.1)
  as_pg "$bin/initdb" -D "$dir/pg/primary" -U postgres --auth=trust -E UTF8 >"$dir/pg/initdb.log"
  cat >> "$dir/pg/primary/postgresql.conf" <<EOF
port = $pp
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/pg'
wal_level = replica
max_wal_senders = 4
max_connections = 200
EOF
  as_pg "$bin/pg_ctl" -D "$dir/pg/primary" -l "$dir/pg/primary.log" -w start >/dev/null
  echo "PG_PRIMARY_DATA=$dir/pg/primary" >> "$env"
  as_pg "$bin/psql" -q -h 127.0.0.1 -p "$pp" -U postgres -c "CREATE DATABASE app" postgres
  as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$pp" -U postgres -D "$dir/pg/replica" -R -X stream -c fast
  {
    echo "port = $rp"
    [ "$delay" = 0 ] || echo "recovery_min_apply_delay = '${delay}ms'"
  } >> "$dir/pg/replica/postgresql.conf"
  as_pg "$bin/pg_ctl" -D "$dir/pg/replica" -l "$dir/pg/replica.log" -w start >/dev/null
  echo "PG_REPLICA_DATA=$dir/pg/replica" >> "$env"
  PRIMARY_URL="postgres://postgres@127.0.0.1:$pp/app"
  REPLICA_URL="postgres://postgres@127.0.0.1:$rp/app"

  # Redis, keeping nothing on disk.
  local redis
  redis=$(free_port 127.0.0.1)
  redis-server --port "$redis" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  REDIS_URL="redis://127.0.0.1:$redis"
  {
    echo "PRIMARY_URL=$PRIMARY_URL"
    echo "REPLICA_URL=$REPLICA_URL"
    echo "REDIS_URL=$REDIS_URL"
    echo "HOSTS=$hosts"
  } >> "$env"

  # The hosts, then the balancer in front of them.
  for i in $(seq 1 "$hosts"); do write_host "$dir" "$i" >> "$env"; done
  LB=127.0.0.1:$(free_port 127.0.0.1)
  echo "LB=$LB" >> "$env"
  # shellcheck source=/dev/null
  . "$env"
  for i in $(seq 1 "$hosts"); do start_host "$dir" "$i"; done
  haproxy_config "$dir" "$hosts" > "$dir/haproxy.cfg"
  haproxy -D -f "$dir/haproxy.cfg"
  # Serving through the balancer once every host is in rotation.
  for _ in $(seq 1 100); do
    [ "$(up_count "$dir")" = "$hosts" ] && break
    sleep 0.1
  done
  [ "$(up_count "$dir")" = "$hosts" ] || die "HAProxy did not put every host in rotation"
  echo "cluster up: balancer http://$LB, $hosts hosts, state in $env"
}

# How many hosts HAProxy has in rotation.
up_count() {
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536): data += chunk
print(sum(1 for l in data.decode().splitlines() if l.startswith("hosts,host") and ",UP," in l))
' "$1/haproxy.sock" 2>/dev/null || echo 0
}

load_env() {
  [ -f "$1/cluster.env" ] || die "no cluster in $1 (run: cluster.sh up $1)"
  # shellcheck source=/dev/null
  . "$1/cluster.env"
}

deploy() {
  local dir=$1
  load_env "$dir"
  for i in $(seq 1 "$HOSTS"); do
    echo "deploy: reloading host $i"
    "$CORRAL" reload all --socket "$dir/host$i/run/corral.sock" >/dev/null
  done
}

down() {
  local dir=$1 bin
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/haproxy.pid" ]; then kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true; fi
  for host in "$dir"/host*; do
    [ -d "$host" ] && stop_host "$dir" "${host##*/host}"
  done
  if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
  bin=$(pg_bin)
  for data in replica primary; do
    [ -f "$dir/pg/$data/postmaster.pid" ] &&
      as_pg "$bin/pg_ctl" -D "$dir/pg/$data" -m fast -w stop >/dev/null || true
  done
  rm -rf "$dir"
}

[ $# -ge 2 ] || die "usage: cluster.sh up|deploy|stop-host|start-host|down DIR [...]"
verb=$1 dir=$2
shift 2
case $verb in
  up) up "$dir" "$@" ;;
  deploy) deploy "$dir" ;;
  stop-host) load_env "$dir"; stop_host "$dir" "$1" ;;
  start-host) load_env "$dir"; start_host "$dir" "$1" ;;
  down) down "$dir" ;;
  *) die "unknown verb $verb" ;;
esac
