#!/usr/bin/env bash
# Build the libFuzzer targets of fuzz/ in a build dir of their own (clang,
# ASan, UBSan) and run each for a bounded time from its seed corpus.  A
# crash, leak, sanitizer report, slow input or hang fails that target.
# Prints one line per target and a closing "N passed, N failed" (each
# target is one test), which scripts/test.sh adds to its own count.
#   scripts/fuzz.sh              30 s per target
#   FUZZ_SECONDS=600 scripts/fuzz.sh
# Inputs that fail are kept in build-test-fuzz/findings/, new corpus
# entries in build-test-fuzz/corpus/ (the tree's seeds stay untouched).
set -uo pipefail
cd "$(dirname "$0")/.."

build=build-test-fuzz
secs=${FUZZ_SECONDS:-30}
targets=()
for f in fuzz/fuzz_*.c; do
    targets+=("$(basename "$f" .c)")
done

if [ -f "$build/build.ninja" ]; then
    out=$(meson setup --reconfigure "$build" 2>&1)
else
    out=$(CC=clang meson setup "$build" -Dfuzz=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false 2>&1)
fi && out=$(ninja -C "$build" 2>&1)
if [ $? -ne 0 ]; then
    printf '%s\n' "$out" | tail -20
    echo "fuzz: build failed"
    echo "0 passed, ${#targets[@]} failed"
    exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$build/findings"
passed=0
failed=0
for t in "${targets[@]}"; do
    work="$build/corpus/$t"
    log="$build/$t.log"
    mkdir -p "$work"
    # -timeout: one input slower than 10 s is a finding; timeout(1) ends
    # a fuzzer that is stuck past its own time limit.
    timeout -k 10 $((secs + 60)) "$build/fuzz/$t" -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/findings/$t-" "$work" "fuzz/corpus/$t" \
        >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        printf '%-28s %3d passed, 0 failed (%s runs in %s s)\n' "$t" 1 \
            "${runs:-?}" "$secs"
        passed=$((passed + 1))
    else
        [ "$rc" -eq 124 ] && echo "$t: still running after $((secs + 60)) s"
        printf '%-28s %3d passed, 1 failed (exit %d)\n' "$t" 0 "$rc"
        grep -E -A30 'ERROR: |check failed|runtime error|SUMMARY' "$log" |
            head -60
        ls "$build/findings/$t-"* 2>/dev/null
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
