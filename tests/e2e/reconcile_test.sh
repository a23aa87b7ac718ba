#!/usr/bin/env bash
# The cron leader's reconciler finds tasks nobody is running:
#   1. a lost dispatch: the history has the task `queued` (its queued event
#      reached Kafka) but the task message never did: it is published
#      again, and a worker runs it once;
#   2. a task `running` on a worker that vanished (no lease), past its
#      deadline: it ends `dead` with code `lost`, in Redis and in the
#      history, with a copy in the DLQ;
#   3. a task `running` whose lease is live is left alone, however old
#      its last event.
source "$(dirname "$0")/lib.sh"
e2e_init reconcile

start_recorder
"$E2E_BIN/datafleet-scheduler" --roles cron --reconcile-every 500ms --stuck-queued 2s \
    --stuck-running 2s run >>"$E2E_DIR/cron.log" 2>&1 &
E2E_PIDS+=("$!")
start_worker w1 --concurrency 2
wait_assigned w1

events_topic="${DATAFLEET_TOPIC_PREFIX}events"
produce_event() { kcat -b "$DATAFLEET_KAFKA_BROKERS" -P -t "$events_topic" -K '|' -H schema=datafleet.event/v1; }
new_task() {
    "$E2E_BIN/datafleet-submit" --dry-run --type export --connector noop "$@" |
        python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":")))'
}
task_id_of() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])["task_id"])' "$1"; }
ago() { date -u -d "-$1 seconds" +%Y-%m-%dT%H:%M:%S.000Z; }

# 1. Lost dispatch: only the queued event, carrying the task.
lost=$(new_task --params '{}')
lost_id=$(task_id_of "$lost")
printf '%s|{"event_id":"01J0000000000000000000RQ01","task_id":"%s","attempt":1,"state":"queued","at":"%s","worker":"datafleet-submit","type":"export","connector":"noop","task":%s}\n' \
    "$lost_id" "$lost_id" "$(ago 1)" "$lost" | produce_event

# 2. Running on a vanished worker, past its deadline.
gone=$(new_task --params '{}' --deadline "$(ago 30)")
gone_id=$(task_id_of "$gone")
{
    printf '%s|{"event_id":"01J0000000000000000000RQ02","task_id":"%s","attempt":1,"state":"queued","at":"%s","worker":"datafleet-submit","type":"export","connector":"noop","task":%s}\n' \
        "$gone_id" "$gone_id" "$(ago 60)" "$gone"
    printf '%s|{"event_id":"01J0000000000000000000RQ03","task_id":"%s","attempt":1,"state":"running","at":"%s","worker":"vanished"}\n' \
        "$gone_id" "$gone_id" "$(ago 59)"
} | produce_event
rcli HSET "df:task:$gone_id" state running attempt 1 worker vanished >/dev/null

# 3. Running with a live lease (held by "elsewhere" for the whole test).
held=$(new_task --params '{}')
held_id=$(task_id_of "$held")
rcli SET "df:lease:$held_id" "elsewhere|1" PX 120000 >/dev/null
rcli HSET "df:task:$held_id" state running attempt 1 worker elsewhere >/dev/null
{
    printf '%s|{"event_id":"01J0000000000000000000RQ04","task_id":"%s","attempt":1,"state":"queued","at":"%s","worker":"datafleet-submit","type":"export","connector":"noop","task":%s}\n' \
        "$held_id" "$held_id" "$(ago 60)" "$held"
    printf '%s|{"event_id":"01J0000000000000000000RQ05","task_id":"%s","attempt":1,"state":"running","at":"%s","worker":"elsewhere"}\n' \
        "$held_id" "$held_id" "$(ago 59)"
} | produce_event

wait_for "the lost dispatch ran" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$lost_id'" succeeded
check_eq "it ran once" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$lost_id' AND state = 'running'")" 1
check "the reconciler said why" grep -q "task $lost_id queued for .* ms with nobody on it" "$E2E_DIR/cron.log"

wait_for "the vanished run ended" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$gone_id'" dead
check_eq "with code lost" "$(q "SELECT error_code FROM tasks WHERE task_id = '$gone_id'")" lost
check_eq "Redis agrees" "$(rcli HGET "df:task:$gone_id" state)" dead
check "the DLQ has a copy" bash -c "kcat -b '$DATAFLEET_KAFKA_BROKERS' -C -t '${DATAFLEET_TOPIC_PREFIX}dlq' -e -q -f '%k %h\n' 2>/dev/null |
    grep -q '^$gone_id .*dlq_reason=lost'"
check "logged" grep -q "task $gone_id ended dead (lost)" "$E2E_DIR/cron.log"

sleep 2 # several passes more
check_eq "a live lease is left alone" "$(q "SELECT state FROM tasks WHERE task_id = '$held_id'")" running
check_eq "and not published again" \
    "$(q "SELECT count(*) FROM task_events WHERE task_id = '$held_id'")" 2
e2e_finish
