#!/bin/sh
# Set-up command 2: build and run the whole test suite: unit, conformance
# (every plugin), end-to-end CLI tests, the same unit and conformance tests
# under ASan+UBSan, and a bounded libFuzzer run of every parser. Ends with
# the plain summary line "N passed, N failed".
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

# One summary over every test log (meson records SKIP for exit code 77;
# tests that skip a case for missing data say so in their output).
passed=0; failed=0; skipped=0
for l in $logs; do
  if [ ! -f "$l" ]; then failed=$((failed + 1)); continue; fi
  p=$(grep -o '"result": *"[A-Z]*"' "$l" | grep -c '"OK"')
  s=$(grep -o '"result": *"[A-Z]*"' "$l" | grep -c '"SKIP"')
  t=$(grep -o '"result": *"[A-Z]*"' "$l" | wc -l)
  passed=$((passed + p)); skipped=$((skipped + s)); failed=$((failed + t - p - s))
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
