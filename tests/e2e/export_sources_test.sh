#!/usr/bin/env bash
# Export tasks stream their source in chunks through a connector's export
# operations (here the noop sink): a PostgreSQL query of 25,000 rows in
# chunks of 1,000, a CSV with a bad value failing with its row and column,
# and a resumed export skipping the rows its checkpoint says were written.
source "$(dirname "$0")/lib.sh"
e2e_init exportsrc

start_recorder
start_worker w1 --concurrency 4
q "CREATE TABLE bookings AS SELECT g AS id, 'guest ' || g AS guest, (g % 7) + 1 AS nights,
   now() - g * interval '1 hour' AS created_at FROM generate_series(1, 25000) g" >/dev/null
sub() { "$E2E_BIN/datafleet-submit" "$@" | tail -1; }
src="{\"kind\":\"postgres\",\"query\":\"SELECT * FROM bookings WHERE nights >= \$1 ORDER BY id\",\"args\":[1]}"

pg=$(sub --type export --connector noop --params "{\"source\":$src,\"target\":{\"table\":\"t\"},\"chunk_rows\":1000}")
wait_for "postgres export done" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$pg'" succeeded
check_eq "rows written" "$(q "SELECT result->>'rows_written' FROM tasks WHERE task_id = '$pg'")" 25000
check_eq "in chunks of 1,000" "$(q "SELECT result->>'chunks' FROM tasks WHERE task_id = '$pg'")" 25
check_eq "checkpoint removed at the end" "$(rcli EXISTS "df:ckpt:$pg")" 0

printf 'id,price\n1,10\n2,11\n3,abc\n' >"$E2E_DIR/bad.csv"
bad=$(sub --type export --connector noop --params "{\"source\":{\"kind\":\"csv\",\"path\":\"$E2E_DIR/bad.csv\",\"columns\":[{\"name\":\"id\",\"type\":\"integer\"},{\"name\":\"price\",\"type\":\"integer\"}]}}")
wait_for "bad csv failed" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$bad'" failed
msg=$(q "SELECT error_message FROM tasks WHERE task_id = '$bad'")
check "the error names the row and column ($msg)" grep -q "row 3, column price" <<<"$msg"

resume=$("$E2E_BIN/datafleet-submit" --dry-run --type export --connector noop |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["task_id"])')
rcli HSET "df:ckpt:$resume" rows 10000 chunks 10 >/dev/null
sub --task-id "$resume" --type export --connector noop --params "{\"source\":$src,\"chunk_rows\":1000}" >/dev/null
wait_for "resumed export done" 60 sql_is "SELECT state FROM tasks WHERE task_id = '$resume'" succeeded
check_eq "resumed after the checkpoint" \
    "$(q "SELECT result->>'resumed_after_rows' FROM tasks WHERE task_id = '$resume'")" 10000
check_eq "15 more chunks" "$(q "SELECT result->>'chunks' FROM tasks WHERE task_id = '$resume'")" 25
e2e_finish
