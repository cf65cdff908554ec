#!/bin/bash
# Ctrl-C (issue 11, item 17): the first SIGINT says what happens and lets
# the running cell finish; a second one stops at once (exit 130) even in the
# middle of a long cell; a Ctrl-C to the whole process group also ends an
# isolated cell's child (no orphan keeps computing).
# No fixed sleeps decide the outcome: the first cell (opq with 10,000
# alternations) runs far longer than any wait here, so it is still running
# whatever the machine's load, and every wait polls for the event it needs.
set -u
: "${ECBENCH:?}"
tmp=$(mktemp -d) || exit 1
# a failed check must not leave a run computing for minutes after the test
trap 'pkill -9 -f -- "$tmp/c.json" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ECBENCH_CACHE_DIR=$tmp/cache
cat > "$tmp/slow.json" <<'JSON'
{"schema_version": 1, "name": "slow",
 "datasets": [{"builtin": "synthetic", "params": {"n": 20000, "dim": 128, "queries": 50, "seed": 3}}],
 "methods": [{"method": "opq", "params": {"m": 64, "iters": 10000}}, {"method": "float32"}],
 "modes": ["asymmetric"], "k": [10], "threads": 1, "seed": 5, "latency_queries": 5ISO}
JSON
waitfor() { # waitfor PATTERN FILE: poll up to 120 s
  for _ in $(seq 1 1200); do grep -q "$1" "$2" && return 0; sleep 0.1; done; return 1
}
for iso in in-process isolated; do
  extra=""; [ $iso = isolated ] && extra=', "isolate": true'
  sed "s/ISO/$extra/" "$tmp/slow.json" > "$tmp/c.json"
  # a new session, so that the test can signal the whole group as a terminal
  # would. setsid forks when it starts as a process group leader (then $! is
  # setsid, not ecbench, and a signal to $! reached nobody: seen once under
  # load); -w makes it wait and pass on the exit status, and the session's
  # leader, ecbench, is looked up by its command line.
  setsid -w "$ECBENCH" run "$tmp/c.json" -o "$tmp/out-$iso" --no-report > "$tmp/log" 2>&1 &
  launcher=$!
  # the first cell's progress line: the cell is running (its handler is set)
  waitfor '\[1/2\] running' "$tmp/log" || { cat "$tmp/log"; fail "$iso: the first cell never started"; }
  pid=
  for p in $(pgrep -f -- "run $tmp/c.json"); do
    [ "$(ps -o sid= -p "$p" | tr -d ' ')" = "$p" ] && pid=$p
  done
  [ -n "$pid" ] || fail "$iso: no ecbench session leader found"
  kill -INT -- -"$pid" 2>/dev/null || kill -INT "$pid"
  waitfor "send it again to stop now" "$tmp/log" || fail "$iso: the first SIGINT said nothing"
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || fail "$iso: the first SIGINT stopped the run (it should finish the cell)"
  t0=$(date +%s)
  kill -INT -- -"$pid" 2>/dev/null || kill -INT "$pid"
  wait "$launcher"
  rc=$?
  t1=$(date +%s)
  [ "$rc" -eq 130 ] || fail "$iso: second SIGINT: expected exit 130, got $rc"
  [ $((t1 - t0)) -le 3 ] || fail "$iso: second SIGINT took $((t1 - t0)) s"
  sleep 0.5
  if pgrep -f "$tmp/c.json" > /dev/null; then pkill -9 -f "$tmp/c.json"; fail "$iso: a process survived"; fi
  echo "ok: $iso: first SIGINT announced, second stops at once (exit 130), nothing left running"
done
