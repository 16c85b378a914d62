#!/usr/bin/env bash
# `make test`'s stages, in order, each one's time printed as it ends and all
# of them at the end. Stages joined by `+` run side by side: the first in the
# foreground, the others with their output kept in .local/logs/<stage>.log
# and printed once they end. Worth it where the first leaves a core idle
# (tests waiting on the stack) and the others need one (Python's linters).
#
#   scripts/test-stages.sh setup database lint test-rust+test-iac build
set -uo pipefail
cd "$(dirname "$0")/.."
logs=.local/logs
mkdir -p "$logs"
rm -f "$logs"/*.seconds
times=""

# Runs one stage; its time goes to $logs/<stage>.seconds.
run_stage() {
	local stage=$1 start=$SECONDS status
	make --no-print-directory "$stage"
	status=$?
	echo $((SECONDS - start)) >"$logs/$stage.seconds"
	return $status
}

for group in "$@"; do
	IFS=+ read -ra stages <<<"$group"
	beside=()
	for stage in "${stages[@]:1}"; do
		run_stage "$stage" >"$logs/$stage.log" 2>&1 &
		beside+=("$stage:$!")
	done
	run_stage "${stages[0]}"
	failed=$?
	[ $failed -eq 0 ] || failed_stage=${stages[0]}
	# A stage beside is waited for even when the first failed: its output
	# says what else is wrong.
	for entry in "${beside[@]}"; do
		stage=${entry%%:*}
		wait "${entry##*:}" || { [ $failed -ne 0 ] || failed_stage=$stage; failed=1; }
		echo "==> output of $stage (run beside ${stages[0]}):"
		cat "$logs/$stage.log"
	done
	for stage in "${stages[@]}"; do
		[ -f "$logs/$stage.seconds" ] || continue
		took="$stage: $(cat "$logs/$stage.seconds") s"
		[ "$stage" = "${stages[0]}" ] || took="$took (beside ${stages[0]})"
		echo "==> $took"
		times="$times\n  $took"
		rm -f "$logs/$stage.seconds"
	done
	if [ $failed -ne 0 ]; then
		echo "make test: stage $failed_stage failed"
		exit 1
	fi
done
printf "make test passed in %d s:$times\n" $SECONDS
