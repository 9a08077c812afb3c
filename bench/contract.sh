#!/usr/bin/env bash
# The API contract, checked against the real server: Schemathesis (from
# PyPI, pinned in bench/contract-requirements.txt) reads the app's own
# GET /openapi.json and fuzzes every operation, on a fresh SQLite database
# and then on a private PostgreSQL database, failing on any server error or
# any answer the document does not describe (status, content type, headers,
# body schema). See docs/api.md.
#
#   bench/contract.sh                  # both backends, 30 s of fuzzing each
#   CONTRACT_SECONDS=120 bench/contract.sh
#
# Needs python3 with venv, curl and flock; psql for the PostgreSQL run.
#
# Environment:
#   APP_BIN            the app binary to run (default: cargo build -p app)
#   TEST_DATABASE_URL  PostgreSQL server for the second run; a database is
#                      created there and dropped afterwards (needs psql).
#                      Unset: that run is skipped, and said so.
#   CONTRACT_SECONDS   fuzzing time per backend (default 30)
#   CONTRACT_SEED      Schemathesis's seed (default 1, so a run can be
#                      repeated; the work done still depends on speed)
#   CONTRACT_VENV      where the venv lives (default target/contract-venv)
#   CONTRACT_REPORTS   where Schemathesis writes its JUnit reports
#                      (default: the run's temp dir, which is kept, with
#                      the app's logs, only when the run fails)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${CONTRACT_SECONDS:-30}"
venv="${CONTRACT_VENV:-target/contract-venv}"
requirements=bench/contract-requirements.txt
work="$(mktemp -d "${TMPDIR:-/tmp}/contract.XXXXXX")"
reports="${CONTRACT_REPORTS:-$work/reports}"
app_pid=""
database=""
keep=1

# Stops the app this script started, if it runs.
stop() {
  if [ -n "$app_pid" ]; then
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=""
  fi
}

cleanup() {
  stop
  if [ -n "$database" ]; then
    psql -q "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$work/db"
  if [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

say() { echo "contract: $*" >&2; }

# The venv, made again only when the pins change (the stamp, a copy of the
# pins, is written last, so a half-made venv is never used), under a lock
# so that runs started together (tests in parallel) make it once.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if ! cmp -s "$requirements" "$venv/contract-requirements.txt"; then
  say "creating $venv (schemathesis from PyPI)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
  cp "$requirements" "$venv/contract-requirements.txt"
fi
flock -u 9

if [ -z "${APP_BIN:-}" ]; then
  cargo build -p app
  APP_BIN=target/debug/app
fi

# Starts the app on DATABASE_URL (seeded), registers the contract user and
# runs Schemathesis; returns its exit status. (Called in an `||` list, where
# `set -e` does not apply, so every step checks its own outcome.)
run() {
  local name="$1" url="$2" log="$work/$1.log"
  say "$name: seeding and starting the app"
  if ! DATABASE_URL="$url" "$APP_BIN" seed --posts 30 >"$work/$name-seed.txt" 2>&1; then
    cat "$work/$name-seed.txt" >&2
    say "$name: seeding failed"
    return 1
  fi
  DATABASE_URL="$url" APP_LISTEN=127.0.0.1:0 APP_LOG_FORMAT=text APP_ACCESS_LOG=off \
    "$APP_BIN" serve >"$log" 2>&1 &
  app_pid=$!
  local addr=""
  for _ in $(seq 300); do
    addr="$(grep -o 'serving on 127\.0\.0\.1:[0-9]*' "$log" | head -n1 | cut -d' ' -f3)" || true
    [ -n "$addr" ] && break
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    stop
    cat "$log" >&2
    say "$name: the app did not start"
    return 1
  fi
  local base="http://$addr"

  export CONTRACT_BASE="$base"
  export CONTRACT_EMAIL="contract-$name@example.com"
  CONTRACT_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  export CONTRACT_PASSWORD
  local status
  status="$(curl -sS -o "$work/register.json" -w '%{http_code}' -X POST "$base/api/auth/register" \
    -H 'Content-Type: application/json' \
    -d "{\"email\":\"$CONTRACT_EMAIL\",\"name\":\"Contract\",\"password\":\"$CONTRACT_PASSWORD\"}")"
  if [ "$status" != 201 ]; then
    stop
    cat "$work/register.json" >&2
    say "$name: registering failed ($status)"
    return 1
  fi

  say "$name: schemathesis for ${seconds}s against $base"
  local outcome=0
  PYTHONPATH=bench SCHEMATHESIS_HOOKS=contract_hooks "$venv/bin/schemathesis" \
    --config-file bench/contract.toml run "$base/openapi.json" \
    --checks "$checks" \
    --max-time "$seconds" \
    --request-timeout 10 \
    --seed "${CONTRACT_SEED:-1}" \
    --suppress-health-check all \
    --report junit --report-junit-path "$reports/$name.xml" \
    || outcome=$?

  say "$name: answers given, by route (from /metrics; 405s left out)"
  curl -sS "$base/metrics" | sed -nE \
    's/^http_requests_total\{method="([^"]*)",route="([^"]*)",status="([^"]*)"\} ([0-9]+).*/\1 \2 \3 \4/p' |
    sort -k3,3n | awk '$3 != 405 { seen[$1 " " $2] = seen[$1 " " $2] " " $3 "x" $4 } END { for (k in seen) print "  " k ":" seen[k] }' |
    sort >&2 || true

  stop
  if grep -q 'panicked' "$log"; then
    grep 'panicked' "$log" >&2
    say "$name: the app panicked"
    outcome=1
  fi
  return "$outcome"
}

# What each answer is checked for. Left out: positive_data_acceptance and
# ensure_resource_availability, which take every schema-valid request for
# one that must succeed, while rules a schema cannot state refuse some
# (following yourself, a stale `If-Match`, a comment on a draft, a title
# of spaces); object_level_authorization, which needs a second user's
# token (app/tests/api/authz.rs covers it route by route).
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance
checks+=,negative_data_rejection,missing_required_header,ignored_auth
checks+=,use_after_free,unsupported_method,allow_header_conformance

failed=0
mkdir -p "$work/db" "$reports"
run sqlite "sqlite://$work/db/app.db" || failed=1

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  if ! command -v psql >/dev/null; then
    say "the PostgreSQL run needs psql to create its database: install postgresql-client"
    exit 1
  fi
  database="contract_$$_$RANDOM"
  psql -q "$TEST_DATABASE_URL" -c "CREATE DATABASE \"$database\"" >/dev/null
  server="${TEST_DATABASE_URL%%\?*}"
  run postgres "${server%/*}/$database${TEST_DATABASE_URL#"$server"}" || failed=1
else
  say "skipped: the PostgreSQL run (TEST_DATABASE_URL is unset)"
fi

if [ "$failed" = 0 ]; then
  [ -n "${CONTRACT_REPORTS:-}" ] && say "JUnit reports in $reports"
  say "passed"
  keep=0
else
  say "JUnit reports in $reports, the app's logs in $work"
  say "FAILED"
fi
exit "$failed"
