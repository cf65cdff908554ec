#!/bin/sh
# The layers of DESIGN D1, checked on the includes: a file may include
# headers of its own layer and of the layers below it, never above.
#   0 common/, harness/include/ecbench/ + harness/ecbmath/ (the plugin toolkit)
#   1 datasets/
#   2 harness/ (the core)          methods/ may include only ecbench/ headers
#   3 reports/
#   4 harness/main.c (the CLI: runs a sweep, then its report)
# Prints every violation as file:line and fails when there is one.
set -u
root=${1:-${ECB_SOURCE_DIR:-$(dirname "$0")/..}}
cd "$root" || exit 2
rank_of_header() { # the layer of an included header path
  case "$1" in
    common/*|ecbench/*) echo 0 ;;
    datasets/*) echo 1 ;;
    harness/*) echo 2 ;;
    reports/*) echo 3 ;;
    *) echo -1 ;;
  esac
}
bad=0
for f in $(git ls-files 'common/*.[ch]' 'datasets/*.[ch]' 'harness/*.[ch]' 'reports/*.[ch]' \
             'methods/*.[ch]' 2>/dev/null || find common datasets harness reports methods -name '*.[ch]'); do
  case "$f" in
    harness/main.c) mine=4 ;;
    common/*|harness/include/*|harness/ecbmath/*) mine=0 ;;
    datasets/*) mine=1 ;;
    methods/*) mine=m ;;
    harness/*) mine=2 ;;
    reports/*) mine=3 ;;
  esac
  grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
    n=${line%%:*}
    h=$(printf '%s\n' "$line" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
    r=$(rank_of_header "$h")
    if [ "$mine" = m ]; then
      case "$h" in ecbench/*) ;; *) echo "$f:$n: a method includes \"$h\" (only ecbench/ public headers)";; esac
      continue
    fi
    # the toolkit is public: it must not see any host layer, not even common
    case "$f" in harness/include/*|harness/ecbmath/*)
      case "$h" in ecbench/*) ;; *) echo "$f:$n: the plugin toolkit includes \"$h\"";; esac
      continue;;
    esac
    [ "$r" -gt "$mine" ] && echo "$f:$n: layer $mine includes \"$h\" of layer $r (upwards)"
  done
done > /tmp/ecb_layers.$$
if [ -s /tmp/ecb_layers.$$ ]; then
  cat /tmp/ecb_layers.$$
  rm -f /tmp/ecb_layers.$$
  echo "layers: FAIL (includes point upwards; see DESIGN D1 and README Layout)"
  exit 1
fi
rm -f /tmp/ecb_layers.$$
echo "layers: ok"
