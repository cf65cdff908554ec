#!/bin/sh
# Install what ecbench needs from Debian 12 packages, only what is missing.
# usage: scripts/deps.sh [--test]   (--test adds what the test suite needs)
set -eu
# libopenmpi-dev + openmpi-bin: scale-out (DESIGN D11); the build works without them (-Dmpi=auto).
# libxxhash-dev: XXH3 for the ground-truth cache key (content hash of the corpus; optional for
# the build, -Dxxhash=auto: without it a slower FNV-1a is used and cache keys differ).
# libhdf5-dev is optional for the build (meson -Dhdf5=auto): it adds the
# ann-benchmarks HDF5 reader.
pkgs="gcc meson ninja-build pkg-config libopenblas-dev liblapacke-dev libcjson-dev libcsv-dev gnuplot-nox libopenmpi-dev openmpi-bin libhdf5-dev libxxhash-dev"
if [ "${1:-}" = "--test" ]; then
  # texlive-latex-base: pdflatex compiles the LaTeX tables in the tests (~45 s to install);
  # chromium: headless, loads report.html in the tests (~85 s to install);
  # python3-h5py builds the HDF5 test files (cross-check only, never used by ecbench)
  pkgs="$pkgs libcmocka-dev clang libclang-rt-14-dev binutils texlive-latex-base chromium python3-h5py"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ecbench: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "ecbench: error: missing packages:$missing; run as root: apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null
