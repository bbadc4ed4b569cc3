#!/usr/bin/env bash
# Sets up, builds and runs every test: first a normal build, then the same
# tests under -fsanitize=address,undefined. Exits non-zero on any failure.
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

JOBS="${JOBS:-$(nproc)}"
# In CI an io_uring that cannot be set up is a failure, never a skip.
export ORIGINWATCH_REQUIRE_IO_URING=1
# The 1000-handshake test needs ~2,100 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run_suite() {
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 300
}

echo "== include hygiene: no component includes another's private header"
./scripts/check-includes.sh

echo "== build and test (RelWithDebInfo)"
run_suite build

if [ "${1:-}" != "--fast" ]; then
  echo "== build and test with -fsanitize=address,undefined"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DORIGINWATCH_SANITIZE=ON -DORIGINWATCH_BUILD_BENCHMARKS=OFF
fi
echo "== all tests passed"
