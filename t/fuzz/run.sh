#!/bin/sh
# run.sh BINARY SEEDDIR SECONDS: a short libFuzzer run from the seed corpus.
# New inputs go to a scratch directory, so the checked-in corpus only
# changes by hand.  A crash leaves its reproducer in the scratch directory
# and fails the test.
set -eu
bin=$1 seeds=$2 secs=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/sekisho-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
status=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$seeds" || status=$?
if [ "$status" -ne 0 ]; then
	for f in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
		[ -e "$f" ] || continue
		echo "reproducer: $f ($(wc -c <"$f") bytes):"
		od -c "$f" | head -20
		mkdir -p "${FUZZ_KEEP:-/tmp}" && cp "$f" "${FUZZ_KEEP:-/tmp}/"
	done
fi
exit "$status"
