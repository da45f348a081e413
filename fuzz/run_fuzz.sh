#!/usr/bin/env bash
# Runs one fuzz target over its checked-in seed corpus, writing the new inputs it
# finds into a scratch directory (never into the source tree), which is removed
# afterwards unless KEEP_CORPUS names a directory to keep them in.
#
#   fuzz/run_fuzz.sh BINARY SEED_CORPUS [libFuzzer flags...]
#   e.g. fuzz/run_fuzz.sh build/fuzz/fuzz/redis_url_fuzz fuzz/corpus/redis_url -max_total_time=600
set -euo pipefail
binary=$1
seeds=$2
shift 2
if [ -n "${KEEP_CORPUS:-}" ]; then
  mkdir -p "$KEEP_CORPUS"
  work=$KEEP_CORPUS
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
# Leaks are checked (ASan's LeakSanitizer), and a crash's input is saved in the
# current directory as crash-<sha1> (or leak-, timeout-, oom-).
"$binary" -detect_leaks=1 "$@" "$work" "$seeds"
