#!/usr/bin/env bash
# One refresh per target across the fleet (worker/refresh_guard.c, with the
# noop connector's simulated platform operation and its `refresh_target`
# param):
# three refreshes of one target asked for together, on two workers, run ONE
# platform operation; the two that joined it succeed with it and name the
# task they were coalesced into; the target is free afterwards, so a later
# refresh starts an operation of its own; other targets are not held up.
source "$(dirname "$0")/lib.sh"
e2e_init coalesce

start_recorder
start_worker w1 --concurrency 4
start_worker w2 --concurrency 4
wait_assigned w1 w2
refresh() { "$E2E_BIN/datafleet-submit" --type refresh --connector noop --params "$1" | tail -1; }
starts() { rcli GET "df:noop:starts:$1"; }
result() { q "SELECT result->>'$2' FROM tasks WHERE task_id = '$1'"; }

p='{"duration_ms": 2500, "poll_ms": 300, "refresh_target": "sales-dataset"}'
owns_job() { rcli GET "df:refresh:noop:sales-dataset" | grep -q "\"task_id\": *\"$1\".*\"job\": *{"; }
a=$(refresh "$p")
# b and c are asked for once a's operation runs (the partitions of a and b
# may be on different workers, so submission order is not running order).
wait_for "the first owns the target with its job" 30 owns_job "$a"
b=$(refresh "$p")
c=$(refresh "$p")
other=$(refresh '{"duration_ms": 500, "poll_ms": 200, "refresh_target": "hr-dataset"}')
for t in "$a" "$b" "$c" "$other"; do task_wait_state "$t" succeeded 60; done
check_eq "one platform operation for three refreshes" "$(( $(starts "$a" || echo 0) + $(starts "$b" || echo 0) + $(starts "$c" || echo 0) ))" 1
check_eq "the first started it" "$(starts "$a")" 1
check_eq "the others joined it" "$(result "$b" coalesced_into) $(result "$c" coalesced_into)" "$a $a"
check_eq "all three report the same operation" \
    "$(q "SELECT count(DISTINCT result->>'refresh_id') FROM tasks WHERE task_id IN ('$a', '$b', '$c')")" 1
check_eq "the first is nobody's" "$(result "$a" coalesced_into)" ""
check_eq "another target ran its own" "$(starts "$other")" 1
check_eq "the targets are free again" "$(rcli EXISTS "df:refresh:noop:sales-dataset") $(rcli EXISTS "df:refresh:noop:hr-dataset")" "0 0"

d=$(refresh "$p")
task_wait_state "$d" succeeded 60
check_eq "a later refresh starts an operation of its own" "$(starts "$d")" 1
check "with another operation id" test "$(result "$d" refresh_id)" != "$(result "$a" refresh_id)"

bad=$(refresh '{"duration_ms": 100, "refresh_target": 7}')
task_wait_state "$bad" failed 60
check_eq "a bad target fails naming the param" "$(q "SELECT error_message FROM tasks WHERE task_id = '$bad'")" \
    "params.refresh_target: expected a string of 1 to 200 characters (what is refreshed)"
e2e_finish
