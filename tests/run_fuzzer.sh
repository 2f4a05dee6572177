#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time from a committed seed corpus, without
# writing into the source tree: new inputs go to a temporary corpus that is removed after.
# A crash leaves its reproducer (crash-*) in the build directory and fails the test.
# usage: run_fuzzer.sh FUZZER SEED_DIR SECONDS [extra libFuzzer flags]
# TG_FUZZ_SECONDS overrides SECONDS (tools/fuzz: the longer run of every target).
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=${TG_FUZZ_SECONDS:-$3}
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fuzzer" "$work" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$PWD/" "$@"
