#!/bin/sh
# Builds corral and the test worker in release mode, then runs the log
# throughput benchmark. Arguments go to the script, e.g.
# `bench/log_throughput.sh --rate 50000 --json /tmp/logs.json`.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --workspace
exec python3 bench/log_throughput.py "$@"
