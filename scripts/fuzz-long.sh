#!/bin/sh
# fuzz-long.sh - run every libFuzzer target for MINUTES minutes each and
# merge what it found back into the corpus kept in the repository.
#
# Usage: scripts/fuzz-long.sh MINUTES BIN...   (make fuzz-long FUZZ_MIN=10)
#
# Per target NAME (BIN's basename):
#   - fuzz in build/fuzz/long/NAME/work, seeded from tests/fuzz/corpus/NAME,
#     with tests/fuzz/NAME.dict when it exists; a crash, a leak or an input
#     slower than FUZZ_TIMEOUT seconds fails the target (the reproducer is
#     left in build/fuzz/long/NAME/, see the log there);
#   - merge (-merge=1): the repo corpus keeps every hand-named file (seeds,
#     regression inputs) and, among the files named by their SHA-1 (what
#     libFuzzer writes), the minimal set that adds coverage to them, at most
#     FUZZ_CORPUS_MAX (1000) files of at most FUZZ_FILE_MAX octets (the
#     smallest are kept first, as libFuzzer's merge prefers them; the
#     parsers' inputs are tens of octets, so the cap is about count);
#   - print one line: runs, exec/s, cov, ft, corpus files and size.
# The table of all targets ends the output and goes to
# build/fuzz/long/summary.txt. Exit status 1 if any target failed.
# FUZZ_MERGE_ONLY=1 skips the fuzzing and merges the work directories a
# previous run left (to merge again under other bounds).
set -u

min=${1:?usage: fuzz-long.sh MINUTES BIN...}
shift
corpus_max=${FUZZ_CORPUS_MAX:-1000}
file_max=${FUZZ_FILE_MAX:-16384}
timeout=${FUZZ_TIMEOUT:-25}
top=build/fuzz/long
secs=${FUZZ_SECONDS:-$((min * 60))}	# FUZZ_SECONDS: a quick trial
[ "$secs" -gt 0 ] || { echo "fuzz-long: time must be > 0" >&2; exit 2; }
failed=""

mkdir -p "$top"
# undefined behaviour fails a target like a crash
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
summary=$top/summary.txt
printf '%-20s %10s %8s %6s %7s %7s %9s %s\n' target runs exec/s cov ft \
    files octets result >"$summary"

# is_sha1 NAME - a name libFuzzer gave (40 hex digits)
is_sha1() {
	expr "$1" : '[0-9a-f]\{40\}$' >/dev/null
}

# stat KEY LOG - a final statistic of libFuzzer (-print_final_stats=1)
stat() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -1
}

for bin in "$@"; do
	name=$(basename "$bin")
	repo=tests/fuzz/corpus/$name
	dir=$top/$name
	log=$dir/fuzz.log
	if [ -z "${FUZZ_MERGE_ONLY:-}" ]; then
		rm -rf "$dir"
	else
		rm -rf "$dir/merged"
		[ -f "$log" ] || { echo "fuzz-long: no run in $dir" >&2; exit 2; }
	fi
	mkdir -p "$dir/work" "$dir/merged" "$repo"
	dict=""
	[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
	maxlen=4096
	case $name in
	fuzz_session) maxlen=16384 ;;
	esac

	echo "== $name: $secs s"
	rc=0
	[ -n "${FUZZ_MERGE_ONLY:-}" ] ||
	    "$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout="$timeout" \
	    -print_final_stats=1 -artifact_prefix="$dir/" $dict \
	    "$dir/work" "$repo" >"$log" 2>&1 || rc=$?
	runs=$(stat number_of_executed_units "$log")
	eps=$(stat average_exec_per_sec "$log")
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	result=ok
	if [ "$rc" -ne 0 ]; then
		result="FAILED (exit $rc)"
		failed="$failed $name"
		grep -E '^==[0-9]+==ERROR|^SUMMARY|Test unit written' "$log" |
		    head -5
		echo "   log: $log"
	else
		# curated files stay; SHA-1 files are merged anew
		for f in "$repo"/*; do
			[ -f "$f" ] || continue
			is_sha1 "$(basename "$f")" || cp "$f" "$dir/merged/"
		done
		# inputs too large for the repo never enter the merge
		find "$dir/work" -type f -size +"$file_max"c -delete
		if ! "$bin" -merge=1 -max_len="$maxlen" -timeout="$timeout" \
		    "$dir/merged" "$repo" "$dir/work" >"$dir/merge.log" 2>&1; then
			result="FAILED (merge)"
			failed="$failed $name"
			echo "   merge failed: $dir/merge.log"
		else
			# bound: the smallest SHA-1 files first
			n=0
			for f in $(ls -S -r "$dir/merged"); do
				is_sha1 "$f" || continue
				n=$((n + 1))
				if [ "$n" -gt "$corpus_max" ] ||
				    [ "$(wc -c <"$dir/merged/$f")" -gt "$file_max" ]; then
					rm -f "$dir/merged/$f"
				fi
			done
			for f in "$repo"/*; do
				b=$(basename "$f")
				is_sha1 "$b" && [ ! -e "$dir/merged/$b" ] && rm -f "$f"
			done
			for f in "$dir/merged"/*; do
				b=$(basename "$f")
				is_sha1 "$b" && [ ! -e "$repo/$b" ] && cp "$f" "$repo/"
			done
		fi
	fi
	files=$(find "$repo" -type f | wc -l)
	bytes=$(find "$repo" -type f -exec cat {} + | wc -c)
	printf '   runs %s, %s exec/s, cov %s, ft %s, corpus %s files (%s octets), %s\n' \
	    "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$files" "$bytes" \
	    "$result"
	printf '%-20s %10s %8s %6s %7s %7s %9s %s\n' "$name" "${runs:-?}" \
	    "${eps:-?}" "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$result" \
	    >>"$summary"
done

echo
echo "== summary ($secs s per target; $summary)"
cat "$summary"
if [ -n "$failed" ]; then
	echo "fuzz-long: failed:$failed" >&2
	exit 1
fi
