#!/bin/sh
# The benchmark suite of issue 9 in one command: installs what it needs
# (wrk from Debian's packages; the PM2 + Express baseline's Node packages
# into target/bench/express), builds the release binaries, then runs
# bench/suite.py with the arguments given, e.g.
#   bench/suite.sh                                  # everything, 3 rounds of 10 s
#   bench/suite.sh --seconds 5 --rounds 1 --targets a,c --no-doc
#   bench/suite.sh --profile                        # also perf profiles of (c)
# See docs/benchmarks.md and `python3 bench/suite.py --help`.
set -eu
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "suite: installing wrk (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq wrk
fi
for arg in "$@"; do
  if [ "$arg" = --profile ] && ! command -v perf >/dev/null; then
    echo "suite: installing perf for --profile (Debian package linux-perf)" >&2
    apt-get update -qq && apt-get install -y -qq linux-perf
  fi
done

# The baseline runs from a copy under target/ (ignored by git), with its
# packages installed from the lock file; again only when the lock changed.
express=target/bench/express
mkdir -p "$express"
cp bench/express/package.json bench/express/package-lock.json bench/express/*.js "$express/"
if ! cmp -s bench/express/package-lock.json "$express/node_modules/.suite-lock"; then
  echo "suite: installing the Express baseline's packages (npm ci)" >&2
  (cd "$express" && npm ci --no-audit --no-fund)
  cp bench/express/package-lock.json "$express/node_modules/.suite-lock"
fi
# better-sqlite3 is a native module: build it here if npm did not.
if ! (cd "$express" && node -e "new (require('better-sqlite3'))(':memory:')") 2>/dev/null; then
  (cd "$express" && npm rebuild better-sqlite3)
fi

cargo build --release -p app -p corral -p bench-ceiling
cargo build --release -p corral-e2e --bin test-worker

BENCH_COMMAND="bench/suite.sh${*:+ $*}" exec python3 bench/suite.py "$@"
