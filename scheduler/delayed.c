/* delayed: the cron leader's part that publishes delayed re-publishes when
 * they are due (see cron_role.h, docs/RETRIES.md). The recorder fills
 * delayed_tasks from `retrying` events (the next attempt's task) and from
 * poll hand-offs (the next poll of a platform operation); each tick takes
 * the due rows, oldest first, publishes them and deletes the ones Kafka
 * acknowledged, all in one transaction:
 *
 *   BEGIN
 *   SELECT ... WHERE due_at <= now() ORDER BY due_at LIMIT batch
 *     FOR UPDATE SKIP LOCKED
 *   publish (df_cron_publish waits for the acknowledgements)
 *   DELETE the acknowledged rows
 *   COMMIT
 *
 * A scheduler that dies anywhere in between leaves its rows in place
 * (the transaction never committed), so the next leader publishes them
 * again: a task is published at least once, and workers run it once
 * (task ids are idempotency keys; a message behind the task's position is
 * acknowledged without running). SKIP LOCKED keeps two leaders for a
 * moment from taking the same rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron_role.h"
#include "df_log.h"
#include "df_task.h"

#define PUBLISH_TIMEOUT_MS 10000 /* Kafka's acknowledgements of one batch */
#define FAILED_WAIT_MS     1000  /* after a PostgreSQL failure */
#define IDLE_WAIT_MS       60000 /* nothing delayed at all (the loop wakes sooner) */

static const char take_sql[] =
    "SELECT task_id, attempt, poll_seq, task::text, reason, traceparent FROM delayed_tasks"
    " WHERE due_at <= now() ORDER BY due_at LIMIT $1::integer FOR UPDATE SKIP LOCKED";

static const char delete_sql[] =
    "DELETE FROM delayed_tasks d"
    " USING jsonb_to_recordset($1::jsonb) AS k (task_id text, attempt integer, poll_seq integer)"
    " WHERE d.task_id = k.task_id AND d.attempt = k.attempt AND d.poll_seq = k.poll_seq";

static const char next_due_sql[] =
    "SELECT ceil(extract(epoch FROM min(due_at) - now()) * 1000)::bigint FROM delayed_tasks";

/* Milliseconds until the next row is due, within [0, IDLE_WAIT_MS]. */
static int64_t next_due(df_cron_ctx_t *ctx)
{
    df_error_t err;
    PGresult *res;
    int64_t ms = IDLE_WAIT_MS;

    df_error_init(&err);
    res = df_pg_exec(ctx->pg, next_due_sql, 0, NULL, &err);
    if (!res) {
        df_warn("delayed: %s", err.message);
        return FAILED_WAIT_MS;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return ms < 0 ? 0 : ms > IDLE_WAIT_MS ? IDLE_WAIT_MS : ms;
}

/* The row's task message, or NULL (logged) when it cannot be published:
 * not JSON, or not a valid task of that id. Caller json_decrefs. */
static json_t *row_task(PGresult *rows, int i)
{
    const char *task_id = PQgetvalue(rows, i, 0);
    json_t *task = json_loads(PQgetvalue(rows, i, 3), 0, NULL);
    df_error_t err;

    df_error_init(&err);
    if (!task || !df_task_str(task, "task_id") ||
        strcmp(df_task_str(task, "task_id"), task_id) != 0 || df_task_validate(task, &err)) {
        df_error("delayed: task %s (attempt %s, poll %s) cannot be published and is dropped: "
                 "%s%s%s",
                 task_id, PQgetvalue(rows, i, 1), PQgetvalue(rows, i, 2),
                 task ? err.field : "not JSON", err.field[0] ? ": " : "", err.message);
        json_decref(task);
        return NULL;
    }
    return task;
}

/* Publish the taken rows; gone gets the keys of those to delete
 * (acknowledged by Kafka, or never publishable). Returns false when some
 * publishable row was not acknowledged. */
static bool publish_rows(df_cron_ctx_t *ctx, PGresult *rows, json_t *gone)
{
    int n = PQntuples(rows);
    json_t **tasks = calloc((size_t)n, sizeof(*tasks));
    int *row_of = calloc((size_t)n, sizeof(*row_of));
    bool *ok = calloc((size_t)n, sizeof(*ok));
    const char **traces = calloc((size_t)n, sizeof(*traces));
    size_t m = 0, acked = 0, polls = 0;
    bool all = false;

    if (!tasks || !row_of || !ok || !traces) {
        df_error("delayed: out of memory publishing %d tasks", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        json_t *task;
        bool again = false;
        /* One message per task in a batch (publishing tracks them by id):
         * a second row of a task waits for the next tick. */
        for (size_t j = 0; j < m && !again; j++)
            again = strcmp(PQgetvalue(rows, row_of[j], 0), PQgetvalue(rows, i, 0)) == 0;
        if (again)
            continue;
        task = row_task(rows, i);
        json_t *key =
            json_pack("{s:s, s:i, s:i}", "task_id", PQgetvalue(rows, i, 0), "attempt",
                      atoi(PQgetvalue(rows, i, 1)), "poll_seq", atoi(PQgetvalue(rows, i, 2)));
        if (!task) {
            json_array_append_new(gone, key);
            continue;
        }
        json_decref(key);
        row_of[m] = i;
        traces[m] = PQgetisnull(rows, i, 5) ? NULL : PQgetvalue(rows, i, 5);
        tasks[m++] = task;
    }
    if (m > 0)
        acked = df_cron_publish(ctx, tasks, traces, m, ok, PUBLISH_TIMEOUT_MS);
    for (size_t j = 0; j < m; j++) {
        int i = row_of[j];
        if (!ok[j])
            continue; /* stays: published again at the next tick */
        polls += atoi(PQgetvalue(rows, i, 2)) > 0;
        df_debug("delayed: published task %s attempt %s%s%s (%s)", PQgetvalue(rows, i, 0),
                 PQgetvalue(rows, i, 1), atoi(PQgetvalue(rows, i, 2)) > 0 ? " poll " : "",
                 atoi(PQgetvalue(rows, i, 2)) > 0 ? PQgetvalue(rows, i, 2) : "",
                 PQgetvalue(rows, i, 4));
        json_array_append_new(gone, json_pack("{s:s, s:i, s:i}", "task_id", PQgetvalue(rows, i, 0),
                                              "attempt", atoi(PQgetvalue(rows, i, 1)), "poll_seq",
                                              atoi(PQgetvalue(rows, i, 2))));
    }
    if (acked > 0)
        df_info("delayed: published %zu due task(s) (%zu retries, %zu polls)", acked, acked - polls,
                polls);
    if (acked < m)
        df_warn("delayed: %zu of %zu due tasks not acknowledged by Kafka: kept for the next tick",
                m - acked, m);
    all = acked == m;
out:
    for (size_t j = 0; j < m; j++)
        json_decref(tasks[j]);
    free(tasks);
    free(row_of);
    free(ok);
    free(traces);
    return all;
}

int64_t df_delayed_tick(df_cron_ctx_t *ctx)
{
    char limit[24];
    const char *params[1] = { limit };
    df_error_t err, ignored;
    PGresult *rows = NULL;
    json_t *gone = json_array();
    char *gone_text = NULL;
    bool published = true;
    int n;

    df_error_init(&err);
    if (!gone)
        return FAILED_WAIT_MS;
    snprintf(limit, sizeof(limit), "%lld", (long long)ctx->cfg->publish_batch);
    if (df_pg_begin(ctx->pg, &err) != DF_OK)
        goto fail;
    rows = df_pg_exec(ctx->pg, take_sql, 1, params, &err);
    if (!rows)
        goto fail;
    n = PQntuples(rows);
    if (n > 0)
        published = publish_rows(ctx, rows, gone);
    if (json_array_size(gone) > 0) {
        const char *del[1];
        gone_text = json_dumps(gone, JSON_COMPACT);
        del[0] = gone_text;
        if (!gone_text) {
            df_error_set(&err, DF_ERR_NOMEM, NULL, "out of memory");
            goto fail;
        }
        if (df_pg_run(ctx->pg, delete_sql, 1, del, NULL, &err) != DF_OK)
            goto fail;
    }
    if (df_pg_commit(ctx->pg, &err) != DF_OK)
        goto fail;
    PQclear(rows);
    free(gone_text);
    json_decref(gone);
    if (!published)
        return FAILED_WAIT_MS;
    if (n >= ctx->cfg->publish_batch)
        return 0; /* a full batch: more may be due now */
    return next_due(ctx);

fail:
    df_warn("delayed: %s (the due tasks stay for the next tick)", err.message);
    df_error_init(&ignored);
    df_pg_rollback(ctx->pg, &ignored);
    PQclear(rows);
    free(gone_text);
    json_decref(gone);
    return FAILED_WAIT_MS;
}

void df_delayed_stop(df_cron_ctx_t *ctx)
{
    (void)ctx; /* no state between ticks: delayed_tasks is the state */
}
