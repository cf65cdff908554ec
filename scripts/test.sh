#!/bin/sh
# Set-up command 2: build and run the whole test suite: unit, conformance
# (every plugin), end-to-end CLI tests, the same unit and conformance tests
# under ASan+UBSan, and a bounded libFuzzer run of every parser. Ends with
# the plain summary line "N passed, N failed, N skipped" (every case: a case
# skipped for missing ../shared/data is counted as skipped).
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh --test || exit 1
status=0
logs=""

setup() { # dir, meson options...
  d=$1; shift
  if [ -f "$d/build.ninja" ]; then
    meson configure "$d" "$@" >/dev/null || return 1
  else
    meson setup "$d" "$@" >/dev/null || return 1
  fi
  ninja -C "$d" > "$d/build.log" 2>&1 && return 0
  grep -A12 FAILED "$d/build.log" | head -40
  return 1
}

run() { # dir, meson test args...
  d=$1; shift
  meson test -C "$d" --no-rebuild --print-errorlogs "$@" || status=1
  logs="$logs $d/meson-logs/testlog.json"
}

echo "== release build: unit, conformance, end-to-end"
if setup build -Dtests=true; then run build; else status=1; echo "build failed"; fi

echo "== ASan+UBSan build: unit and conformance"
if setup build-asan -Dtests=true -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
     -Db_lundef=false; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run build-asan --suite unit --suite conformance
else status=1; echo "ASan build failed"; fi

if [ -d tests/fuzz ] && command -v clang >/dev/null 2>&1; then
  echo "== libFuzzer targets, bounded run"
  if CC=clang setup build-fuzz -Dtests=false -Dfuzz=true -Dbuildtype=debugoptimized; then
    run build-fuzz --suite fuzz
  else status=1; echo "fuzz build failed"; fi
fi

# One summary over every test log, counting cases: a TAP test (unit and
# conformance: cmocka) counts each of its cases, a skipped case as skipped;
# any other test counts once (exit 77 is a skip). A TAP test that failed
# without a failing case (a crash after the last case) counts one failure.
summary=$(cat $logs 2>/dev/null | awk '
  { res = $0; sub(/.*"result": *"/, "", res); sub(/".*/, "", res)
    line = $0
    sk = gsub(/\\nok [0-9]+ # SKIP/, "", line)
    ok = gsub(/\\nok [0-9]+/, "", line)
    nok = gsub(/\\nnot ok [0-9]+/, "", line)
    if (sk + ok + nok > 0) {
      p += ok; s += sk; f += nok
      if (res != "OK" && res != "SKIP" && nok == 0) f++
    } else if (res == "OK") p++
    else if (res == "SKIP") s++
    else f++ }
  END { printf "%d %d %d\n", p, f, s }')
for l in $logs; do [ -f "$l" ] || summary=$(echo "$summary" | awk '{ print $1, $2 + 1, $3 }'); done
set -- $summary
passed=$1; failed=$2; skipped=$3
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
