#!/bin/bash
# Runs a cmocka program with TAP output for meson's TAP protocol. cmocka
# writes a skipped case as "not ok N # SKIP", which TAP readers (meson among
# them) count as a failure; TAP's own form is "ok N # SKIP". Lines a test
# prints for people (measured values) become TAP comments.
set -o pipefail
"$@" | sed -u -e 's/^not ok \([0-9]*\) # SKIP/ok \1 # SKIP/' \
              -e '/^\(ok \|not ok \|1\.\.\|#\|Bail out!\)/!s/^/# /'
