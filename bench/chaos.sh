#!/bin/sh
# Chaos under load at the lengths of issue 10: builds corral, the app and the
# chaos client in release mode, runs every scenario against the real binaries
# (30 rolling reloads in 60 s; kill -9 of a random worker every second for
# 60 s; kill -STOP of a worker; kill -9 of the supervisor; 100 reloads, then
# a look for leaks; a 10-minute soak with a reload every 30 s and a kill every
# minute, --soak-for to change its length; PostgreSQL cut then black-holed
# for 30 s each under reads and writes, when TEST_DATABASE_URL is set), and
# prints a Markdown report of the counts per failure
# kind. With --write-docs the report replaces the "Chaos" results in
# docs/benchmarks.md. Exits 1 if a property failed.
#
#   bench/chaos.sh [--write-docs] [chaos options, e.g. --scenario kill-workers,
#                  or --scenario soak --soak-for 20m]
set -eu
cd "$(dirname "$0")/.."
write_docs=no
if [ "${1:-}" = "--write-docs" ]; then
    write_docs=yes
    shift
fi
cargo build --release -p corral -p app -p bench-chaos
out=$(mktemp)
trap 'rm -f "$out" "$out.md"' EXIT
status=0
target/release/chaos --corral target/release/corral --app target/release/app "$@" >"$out" || status=$?
if [ "$status" -gt 1 ]; then
    echo "chaos: the run itself failed (exit $status)" >&2
    exit "$status"
fi
python3 - "$out" >"$out.md" <<'EOF'
import json, os, platform, subprocess, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"Run of `bench/chaos.sh` on commit `{commit}`: {cpu}, {os.cpu_count()} CPUs, "
      f"Linux {platform.release()}; release builds; the app on SQLite, 2 workers.\n")
print("| scenario | load | ok | refused | reset (new) | reset (reused) | timeout | non-2xx | other |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for run in runs:
    if "error" in run or "without_keep_alive" not in run["figures"]:
        continue
    f = run["figures"]
    for load, key in (("new connections", "without_keep_alive"), ("keep-alive", "with_keep_alive")):
        c = f[key].get("counts", f[key])
        non2xx = ", ".join(f"{n}×{code}" for code, n in c["status"].items()) or "0"
        print(f"| {run['scenario']} | {load} | {c['ok']} | {c['refused']} | {c['reset_new']} | "
              f"{c['reset_reused']} | {c['timeout']} | {non2xx} | {c['other']} |")
print()
for run in runs:
    s = run["scenario"]
    if "error" in run:
        print(f"- **{s}**: could not run: {run['error']}")
        continue
    f = run["figures"]
    if "skipped" in f:
        print(f"- **{s}**: {f['skipped']}")
        continue
    if s == "rolling_reloads":
        detail = f"{f['reloads']} reloads in {f['seconds']:.1f} s"
    elif s == "kill_workers":
        a, b = f["without_keep_alive"]["attribution"], f["with_keep_alive"]["attribution"]
        detail = (f"{f['kills']} workers killed in {f['seconds']:.1f} s "
                  f"({f['exited_before_the_kill']} picked had exited already), holding {a['connections_on_killed']} "
                  f"connections when they died; failed: {a['in_flight']} in flight on new connections, "
                  f"{b['in_flight']} in flight and {b['idle_kept']} sent later on idle kept connections "
                  f"of a killed worker; unexplained: {a['unexplained'] + b['unexplained']}; "
                  f"not reaped: {len(f['not_reaped'])}; zombies: {len(f['zombies'])}")
    elif s == "stopped_worker":
        detail = f"replaced {f['replaced_after_s']:.2f} s after SIGSTOP; restarts {f['restarts']}"
    elif s == "kill_supervisor":
        detail = (f"{f['tree']} processes under the supervisor, all gone within {f['all_gone_within_s']:.2f} s "
                  f"(survivors: {len(f['survivors'])}); online again {f['online_again_after_s']:.2f} s after "
                  f"the restart, on port {f['port']}; load above is after the restart")
    elif s == "db_outage":
        parts = []
        for p in f["phases"]:
            m = p["summary"]
            answers = "; ".join(f"{kind} " + ", ".join(f"{n}×{st}" for st, n in by.items())
                                for kind, by in m["answers"].items())
            slowest = "" if m["slowest_503_s"] is None else f", slowest 503 {m['slowest_503_s']:.3f} s"
            parts.append(f"*{p['phase']}* ({m['seconds']:.0f} s): {answers}{slowest}, "
                         f"Retry-After on every 503: {m['every_503_had_retry_after']}, "
                         f"last failure ended {m['last_failure_ended_s']:.2f} s in")
        detail = (f"probe `{f['probe']}`; " + " / ".join(parts) +
                  f"; workers {f['workers']['before']} → {f['workers']['after']}, restarts "
                  f"{f['restarts']['before']} → {f['restarts']['after']}; {f['acknowledged_writes']} "
                  f"acknowledged writes, {len(f['missing_writes'])} missing")
    elif s == "soak":
        a, b = f["without_keep_alive"]["attribution"], f["with_keep_alive"]["attribution"]
        rss = [kib for _, kib in f["rss_kib"]]
        detail = (f"{f['seconds']:.0f} s after {f['warm_up_reloads']} warm-up reloads, {f['reloads']} reloads "
                  f"and {f['kills']} workers killed; supervisor RSS {rss[0] / 1024:.2f} → {rss[-1] / 1024:.2f} MiB "
                  f"(min {min(rss) / 1024:.2f}, max {max(rss) / 1024:.2f}) over {len(rss)} samples, slope "
                  f"{f['rss_slope_kib_per_min']:.1f} KiB/min (bound {f['rss_slope_bound_kib_per_min']:.0f}); "
                  f"fds {min(f['fds'])}..{max(f['fds'])}; failed on killed workers' connections: "
                  f"{a['in_flight'] + a['idle_kept'] + b['in_flight'] + b['idle_kept']}, unexplained: "
                  f"{a['unexplained'] + b['unexplained']}")
    else:
        fds, rss = f["supervisor_fds"], f["supervisor_rss_bytes"]
        inherited = sorted({fd for w in f["inherited_past_stdio"] for fd, _ in w})
        detail = (f"{f['warm_up_reloads']} + {f['reloads']} reloads; supervisor fds {fds[0]} → {fds[1]}, RSS "
                  f"{rss['start'] / 2**20:.2f} MiB at start, {rss['warm'] / 2**20:.2f} after the warm-up, "
                  f"{rss['end'] / 2**20:.2f} at the end; workers share with the supervisor "
                  f"only stdio and fds {inherited} (sockets); kinds of files unchanged: {not f['differences']}")
    verdict = "all held" if all(run["verdicts"].values()) else \
        "FAILED: " + "; ".join(k for k, v in run["verdicts"].items() if not v)
    print(f"- **{s}**: {detail}. Properties: {verdict}.")
EOF
cat "$out.md"
if [ "$write_docs" = yes ]; then
    python3 - "$out.md" <<'EOF'
import re, sys
report = open(sys.argv[1]).read()
path = "docs/benchmarks.md"
text = open(path).read()
begin, end = "<!-- chaos results: begin -->", "<!-- chaos results: end -->"
if begin not in text:
    sys.exit(f"{path} has no '{begin}' marker")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n{report}{end}{tail}")
EOF
fi
exit "$status"
