#!/bin/sh
# Builds corral and the test worker in release mode, then runs the
# kill-to-serving and idle-memory benchmark. Arguments go to the script,
# e.g. `bench/run.sh --runs 100 --json /tmp/bench.json`.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --workspace
exec python3 bench/kill_to_serving.py "$@"
