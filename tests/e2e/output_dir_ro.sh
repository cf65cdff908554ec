#!/bin/bash
# An output directory that cannot be written fails the run (exit 2, "not
# writable") before any cell is computed (issue 11, item 3). As root, the run
# is made as uid 65534 (setpriv), which must be able to read the build:
# a clone inside a private directory (mktemp -d makes it 0700) is not, and
# the case is then skipped, visibly, rather than failing for the wrong reason.
set -u
: "${ECBENCH:?}" "${ECB_BUILD_DIR:?}"
tmp=$(mktemp -d) || exit 1
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$tmp/tiny.json" <<'JSON'
{"schema_version": 1, "name": "tiny",
 "datasets": [{"builtin": "synthetic", "params": {"n": 800, "dim": 16, "queries": 10, "seed": 3}}],
 "methods": [{"method": "float32"}, {"method": "sq", "params": {"bits": 4}}],
 "modes": ["symmetric"], "k": [10], "threads": 1, "seed": 5, "latency_queries": 5}
JSON
chmod 644 "$tmp/tiny.json"
mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro"
as_user=""
if [ "$(id -u)" -eq 0 ]; then
  command -v setpriv > /dev/null || { echo "SKIP: as root without setpriv"; exit 77; }
  as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
  # the plugins this run loads, and the binary itself, as that user sees them
  $as_user "$ECBENCH" list > "$tmp/list.log" 2>&1 && grep -q "^sq " "$tmp/list.log" || {
    echo "SKIP: uid 65534 cannot run $ECBENCH with its plugins (a build inside a directory"
    echo "      only root may enter?): $(head -c 300 "$tmp/list.log")"
    exit 77
  }
  mkdir -p "$tmp/cache2" && chmod 777 "$tmp/cache2"
fi
ECBENCH_CACHE_DIR=$tmp/cache2 $as_user "$ECBENCH" run "$tmp/tiny.json" -o "$tmp/ro" --no-report > "$tmp/ro.log" 2>&1
rc=$?
cat "$tmp/ro.log"
[ "$rc" -eq 2 ] || fail "read-only output directory: expected exit 2, got $rc"
grep -q "not writable" "$tmp/ro.log" || fail "no 'not writable' message"
grep -q "\[1/2\]" "$tmp/ro.log" && fail "a cell ran before the failure"
echo "ok: a read-only output directory fails before any cell"

