#!/usr/bin/env bash
# Sets up, builds and runs every test, in stages; prints "== stage NAME: M.M min"
# after each one. Exits non-zero on the first failure.
#   normal  build everything (RelWithDebInfo, g++); unit tests in parallel, then
#           the end-to-end suites (labels integration, heavy) serially: they run
#           in this build only
#   asan    everything but the heavy suites (crash harness, 10,000 in flight: not built
#           under sanitizers) under -fsanitize=address,undefined, the agent binary
#           the end-to-end suites run included
#   tsan    only the store, webhook, evaluator and agent tests (and the
#           originwatch binary the agent tests run) under -fsanitize=thread
#   fuzz    only the libFuzzer targets (clang), each fuzzed FUZZ_SECONDS (default 20)
#
#   scripts/test.sh                 every stage
#   scripts/test.sh --fast          the normal build only
#   scripts/test.sh --only tsan     one group of stages (normal, asan, tsan or fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY=""
case "${1:-}" in
  "") ;;
  --fast) ONLY=normal ;;
  --only)
    ONLY="${2:?--only needs normal, asan, tsan or fuzz}"
    case "$ONLY" in normal|asan|tsan|fuzz) ;; *) echo "test.sh: unknown group $ONLY" >&2; exit 2 ;; esac
    ;;
  *) echo "usage: scripts/test.sh [--fast | --only normal|asan|tsan|fuzz]" >&2; exit 2 ;;
esac
wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

JOBS="${JOBS:-$(nproc)}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
# In CI an io_uring that cannot be set up is a failure, never a skip.
export ORIGINWATCH_REQUIRE_IO_URING=1
# Likewise the full-disk tests, which mount a small tmpfs (CI runs as root).
export ORIGINWATCH_REQUIRE_MOUNT=1
# And the peers the end-to-end tests start (nginx, Alertmanager, Chromium):
# install-deps installs them, so a missing one fails its test.
export ORIGINWATCH_REQUIRE_PEERS=1
# The 1000-handshake test needs ~2,100 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# stage NAME COMMAND...: runs the command and prints how long it took, also when
# it fails (then the script stops with its status). set -e does not reach into
# a function called as "f || ...", so the stage functions chain with &&.
stage() {
  local name="$1"; shift
  local t0 t1 rc=0
  t0="$(date +%s)"
  echo "== stage $name"
  "$@" || rc=$?
  t1="$(date +%s)"
  awk -v n="$name" -v s="$((t1 - t0))" -v rc="$rc" \
    'BEGIN { printf "== stage %s: %.1f min%s\n", n, s / 60, (rc ? " (FAILED)" : "") }'
  return "$rc"
}

configure() {
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
}

# --- normal -----------------------------------------------------------------
normal_build() {
  configure build &&
    cmake --build build -j "$JOBS"
}
normal_unit() {
  ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 300 -LE 'integration|heavy'
}
normal_e2e() {
  ctest --test-dir build --output-on-failure -j 1 --timeout 300 -L 'integration|heavy'
}

# --- asan -------------------------------------------------------------------
asan_build() {
  configure build-asan -DORIGINWATCH_SANITIZE=ON -DORIGINWATCH_BUILD_BENCHMARKS=OFF &&
    cmake --build build-asan -j "$JOBS"
}
asan_test() {
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 300 -LE 'heavy'
}

# --- tsan -------------------------------------------------------------------
# The suites with threads of their own: the store's writer (on a full disk
# too), the webhook sender (with Alertmanager re-sends), the evaluator, and the
# agent end to end (agent_test, alerts_test, full_disk_test and endpoint_test
# run the binary, built with -fsanitize=thread too; endpoint_test scrapes the
# HTTP endpoint's threads while the evaluator publishes).
TSAN_TARGETS=(store_test known_certs_test store_full_test webhook_test alertmanager_sender_test
  evaluator_test agent_test alerts_test full_disk_test endpoint_test originwatch)
TSAN_TESTS='^(StoreTest|HistoryTest|KnownCertsTest|StoreFullDiskTest|WebhookPayload|WebhookSecret|WebhookTest|AlertmanagerSenderTest|EvaluatorTest|EvaluatorDbTest|AgentTest|AlertsTest|FullDiskTest|EndpointTest)\.'
tsan_build() {
  configure build-tsan -DORIGINWATCH_TSAN=ON -DORIGINWATCH_BUILD_BENCHMARKS=OFF &&
    cmake --build build-tsan -j "$JOBS" --target "${TSAN_TARGETS[@]}"
}
tsan_test() {
  # halt_on_error: a report fails the test that caused it. second_deadlock_stack:
  # both stacks of a lock-order report. log_path: the agent tests send the
  # binary's stderr to files they delete, so every process (tests and the
  # binaries they start) writes its reports to a file of its own here, and any
  # such file fails the stage.
  local logs rc=0
  logs="$(mktemp -d)"
  # scripts/tsan.supp: third-party and benign reports only, each with its reason.
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan:suppressions=$PWD/scripts/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -j 1 --timeout 600 -R "$TSAN_TESTS" || rc=$?
  if compgen -G "$logs/tsan.*" >/dev/null; then
    cat "$logs"/tsan.*
    echo "ThreadSanitizer reported the above"
    rc=1
  fi
  rm -rf "$logs"
  return "$rc"
}

# --- fuzz -------------------------------------------------------------------
FUZZ_TARGETS=(config tls_handshake webhook_payload webhook_response query_output query_sql nginx_config)
fuzz_build() {
  configure build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DORIGINWATCH_FUZZ=ON &&
    cmake --build build-fuzz -j "$JOBS"
}
# Each target for FUZZ_SECONDS from its seeds and regressions. New inputs go to
# a temporary corpus, not into the repository; a crash leaves its input in
# build-fuzz/crashes/ (add it to tests/fuzz/regressions/NAME/ with the fix).
fuzz_run() {
  local work t rc=0
  work="$(mktemp -d)"
  mkdir -p build-fuzz/crashes
  for t in "${FUZZ_TARGETS[@]}"; do
    mkdir -p "$work/$t"
    local dirs=("$work/$t" "tests/fuzz/corpus/$t")
    [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
    echo "-- fuzz_$t for ${FUZZ_SECONDS}s"
    if ! "build-fuzz/fuzz/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/${t}-" "${dirs[@]}" \
        >"$work/$t.log" 2>&1; then
      tail -n 60 "$work/$t.log"
      echo "fuzz_$t failed; the input is in build-fuzz/crashes/"
      rc=1
    fi
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' \
      "$work/$t.log" || true
  done
  rm -rf "$work"
  return "$rc"
}

stage deps ./scripts/install-deps.sh
if wanted normal; then
  stage include-hygiene ./scripts/check-includes.sh
  stage build normal_build
  stage unit normal_unit
  stage e2e normal_e2e
fi
if wanted asan; then
  stage asan-build asan_build
  stage asan-test asan_test
fi
if wanted tsan; then
  stage tsan-build tsan_build
  stage tsan-test tsan_test
fi
if wanted fuzz; then
  stage fuzz-build fuzz_build
  stage fuzz-run fuzz_run
fi
echo "== all tests passed"
