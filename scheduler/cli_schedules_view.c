/* cli_schedules_view: `schedules list` and `schedules show` (see
 * cli_schedules.h): a readable table or text, or JSON for scripts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schedules.h"
#include "df_cron.h"
#include "df_id.h"

#define LIST_COLS  7
#define NEXT_SHOWN 3 /* show: upcoming fire times */
#define CELL_MAX   512

/* One row per schedule with its latest fired slot and that slot's state
 * (the task's in the history, or the pipeline run's). $1: a name, or NULL
 * for all. */
static const char schedules_sql[] =
    "SELECT s.id, s.name, s.expression, s.timezone, s.task_template::text, s.pipeline::text,"
    "       s.enabled, s.paused, s.misfire_policy, s.catch_up_limit,"
    "       (extract(epoch FROM s.last_fired_at) * 1000)::bigint,"
    "       (extract(epoch FROM s.next_fire_at) * 1000)::bigint,"
    "       (extract(epoch FROM f.fire_time) * 1000)::bigint,"
    "       f.task_id, f.pipeline_run_id, COALESCE(t.state, r.state),"
    "       (extract(epoch FROM s.created_at) * 1000)::bigint,"
    "       (extract(epoch FROM s.updated_at) * 1000)::bigint"
    "  FROM schedules AS s"
    "  LEFT JOIN LATERAL (SELECT fire_time, task_id, pipeline_run_id FROM schedule_fires"
    "                      WHERE schedule_id = s.id ORDER BY fire_time DESC LIMIT 1) AS f ON true"
    "  LEFT JOIN tasks AS t ON t.task_id = f.task_id"
    "  LEFT JOIN pipeline_runs AS r ON r.id = f.pipeline_run_id"
    " WHERE $1::text IS NULL OR s.name = $1"
    " ORDER BY s.name";

enum {
    C_ID,
    C_NAME,
    C_EXPR,
    C_TZ,
    C_TEMPLATE,
    C_PIPELINE,
    C_ENABLED,
    C_PAUSED,
    C_MISFIRE,
    C_LIMIT,
    C_LAST_FIRED,
    C_NEXT,
    C_RUN_FIRE,
    C_RUN_TASK,
    C_RUN_PIPELINE,
    C_RUN_STATE,
    C_CREATED,
    C_UPDATED,
};

static const char fires_sql[] = "SELECT (extract(epoch FROM f.fire_time) * 1000)::bigint,"
                                "       f.task_id, f.pipeline_run_id, COALESCE(t.state, r.state),"
                                "       (extract(epoch FROM f.fired_at) * 1000)::bigint"
                                "  FROM schedule_fires AS f"
                                "  LEFT JOIN tasks AS t ON t.task_id = f.task_id"
                                "  LEFT JOIN pipeline_runs AS r ON r.id = f.pipeline_run_id"
                                " WHERE f.schedule_id = $1"
                                " ORDER BY f.fire_time DESC LIMIT $2::integer";

static const char *value(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t ms_value(PGresult *res, int row, int col)
{
    const char *v = value(res, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

static json_t *json_time(PGresult *res, int row, int col)
{
    char buf[40];

    if (!value(res, row, col))
        return json_null();
    df_time_format(ms_value(res, row, col), buf, sizeof(buf));
    return json_string(buf);
}

static json_t *json_text(const char *text)
{
    return text ? json_string(text) : json_null();
}

static json_t *json_doc(const char *text)
{
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    return doc ? doc : json_null();
}

static const char *state_of(PGresult *res, int row)
{
    if (strcmp(PQgetvalue(res, row, C_ENABLED), "t") != 0)
        return "disabled";
    return strcmp(PQgetvalue(res, row, C_PAUSED), "t") == 0 ? "paused" : "enabled";
}

/* A schedule as JSON (list --json, show --json). Caller owns it. */
static json_t *row_json(PGresult *res, int row)
{
    json_t *o = json_object(), *run = json_null();

    if (value(res, row, C_RUN_FIRE)) {
        run = json_object();
        json_object_set_new(run, "fire_time", json_time(res, row, C_RUN_FIRE));
        json_object_set_new(run, "task_id", json_text(value(res, row, C_RUN_TASK)));
        json_object_set_new(run, "pipeline_run_id", json_text(value(res, row, C_RUN_PIPELINE)));
        json_object_set_new(run, "state", json_text(value(res, row, C_RUN_STATE)));
    }
    json_object_set_new(o, "id", json_string(PQgetvalue(res, row, C_ID)));
    json_object_set_new(o, "name", json_string(PQgetvalue(res, row, C_NAME)));
    json_object_set_new(o, "expression", json_string(PQgetvalue(res, row, C_EXPR)));
    json_object_set_new(o, "timezone", json_string(PQgetvalue(res, row, C_TZ)));
    json_object_set_new(o, "task_template", json_doc(value(res, row, C_TEMPLATE)));
    json_object_set_new(o, "pipeline", json_doc(value(res, row, C_PIPELINE)));
    json_object_set_new(o, "state", json_string(state_of(res, row)));
    json_object_set_new(o, "enabled",
                        json_boolean(strcmp(PQgetvalue(res, row, C_ENABLED), "t") == 0));
    json_object_set_new(o, "paused",
                        json_boolean(strcmp(PQgetvalue(res, row, C_PAUSED), "t") == 0));
    json_object_set_new(o, "misfire_policy", json_string(PQgetvalue(res, row, C_MISFIRE)));
    json_object_set_new(o, "catch_up_limit", json_integer(ms_value(res, row, C_LIMIT)));
    json_object_set_new(o, "last_fired_at", json_time(res, row, C_LAST_FIRED));
    json_object_set_new(o, "next_fire_at", json_time(res, row, C_NEXT));
    json_object_set_new(o, "last_run", run);
    json_object_set_new(o, "created_at", json_time(res, row, C_CREATED));
    json_object_set_new(o, "updated_at", json_time(res, row, C_UPDATED));
    return o;
}

static int print_json(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    json_decref(doc);
    if (!text)
        return DF_EXIT_FAILURE;
    puts(text);
    free(text);
    return DF_EXIT_OK;
}

/* "export noop" or "pipeline nightly". */
static void target_text(PGresult *res, int row, char *buf, size_t len)
{
    json_t *doc = json_doc(value(res, row, C_TEMPLATE));

    if (json_is_object(doc)) {
        const char *type = json_string_value(json_object_get(doc, "type"));
        const char *connector = json_string_value(json_object_get(doc, "connector"));
        snprintf(buf, len, "%s %s", type ? type : "?", connector ? connector : "?");
    } else {
        const char *name;
        json_decref(doc);
        doc = json_doc(value(res, row, C_PIPELINE));
        name = json_string_value(json_object_get(doc, "name"));
        snprintf(buf, len, "pipeline %s", name ? name : "?");
    }
    json_decref(doc);
}

/* "succeeded 2026-11-22T02:00:00Z", "fired ..." (not in the history yet), or "-". */
static void last_run_text(PGresult *res, int row, char *buf, size_t len)
{
    char when[40];
    const char *state = value(res, row, C_RUN_STATE);

    if (!value(res, row, C_RUN_FIRE)) {
        snprintf(buf, len, "-");
        return;
    }
    df_sched_cli_time(ms_value(res, row, C_RUN_FIRE), when, sizeof(when));
    snprintf(buf, len, "%s %s", state ? state : "fired", when);
}

static void next_text(PGresult *res, int row, char *buf, size_t len)
{
    const char *state = state_of(res, row);

    if (strcmp(state, "enabled") != 0)
        snprintf(buf, len, "(%s)", state);
    else if (!value(res, row, C_NEXT))
        snprintf(buf, len, "-");
    else
        df_sched_cli_time(ms_value(res, row, C_NEXT), buf, len);
}

static PGresult *query_schedules(df_sched_cli_t *cli, const char *name, df_error_t *err)
{
    const char *params[1] = { name };
    return df_pg_exec(cli->pg, schedules_sql, 1, params, err);
}

int df_sched_cli_list(df_sched_cli_t *cli, char **args)
{
    static const char *const heads[LIST_COLS] = { "NAME",  "EXPRESSION", "ZONE",           "TARGET",
                                                  "STATE", "LAST RUN",   "NEXT FIRE (UTC)" };
    size_t width[LIST_COLS];
    char(*cells)[LIST_COLS][CELL_MAX];
    df_error_t err;
    PGresult *res;
    int n;

    (void)args;
    df_error_init(&err);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    res = query_schedules(cli, NULL, &err);
    if (!res)
        return df_sched_cli_pg_fail(cli, &err);
    n = PQntuples(res);
    if (cli->cfg.json) {
        json_t *arr = json_array();
        for (int r = 0; r < n; r++)
            json_array_append_new(arr, row_json(res, r));
        PQclear(res);
        return print_json(arr);
    }
    cells = calloc((size_t)n + 1, sizeof(*cells));
    if (!cells) {
        PQclear(res);
        return df_sched_cli_fail(cli, DF_EXIT_FAILURE, "out of memory");
    }
    for (int c = 0; c < LIST_COLS; c++)
        snprintf(cells[0][c], CELL_MAX, "%s", heads[c]);
    for (int r = 0; r < n; r++) {
        char(*row)[CELL_MAX] = cells[r + 1];
        snprintf(row[0], CELL_MAX, "%s", PQgetvalue(res, r, C_NAME));
        snprintf(row[1], CELL_MAX, "%s", PQgetvalue(res, r, C_EXPR));
        snprintf(row[2], CELL_MAX, "%s", PQgetvalue(res, r, C_TZ));
        target_text(res, r, row[3], CELL_MAX);
        snprintf(row[4], CELL_MAX, "%s", state_of(res, r));
        last_run_text(res, r, row[5], CELL_MAX);
        next_text(res, r, row[6], CELL_MAX);
    }
    PQclear(res);
    for (int c = 0; c < LIST_COLS; c++) {
        width[c] = 0;
        for (int r = 0; r <= n; r++)
            width[c] = strlen(cells[r][c]) > width[c] ? strlen(cells[r][c]) : width[c];
    }
    for (int r = 0; r <= n; r++) {
        for (int c = 0; c < LIST_COLS; c++)
            printf(c < LIST_COLS - 1 ? "%-*s  " : "%-*s\n", c < LIST_COLS - 1 ? (int)width[c] : 0,
                   cells[r][c]);
    }
    if (n == 0)
        printf("(no schedules)\n");
    free(cells);
    return DF_EXIT_OK;
}

/* The upcoming fire times (from next_fire_at on) as JSON strings. */
static json_t *upcoming(PGresult *res)
{
    json_t *arr = json_array();
    df_error_t err;
    df_cron_t *cron;
    int64_t t;

    if (!value(res, 0, C_NEXT) || strcmp(state_of(res, 0), "enabled") != 0)
        return arr;
    df_error_init(&err);
    cron = df_cron_parse(PQgetvalue(res, 0, C_EXPR), PQgetvalue(res, 0, C_TZ), &err);
    t = ms_value(res, 0, C_NEXT) - 1;
    for (int i = 0; cron && i < NEXT_SHOWN && df_cron_next(cron, t, &t); i++) {
        char buf[40];
        df_time_format(t, buf, sizeof(buf));
        json_array_append_new(arr, json_string(buf));
    }
    df_cron_free(cron);
    return arr;
}

static json_t *fires_json(df_sched_cli_t *cli, const char *id, df_error_t *err)
{
    char limit[24];
    const char *params[2] = { id, limit };
    json_t *arr;
    PGresult *res;

    snprintf(limit, sizeof(limit), "%lld", (long long)cli->cfg.fires);
    res = df_pg_exec(cli->pg, fires_sql, 2, params, err);
    if (!res)
        return NULL;
    arr = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = json_object();
        json_object_set_new(o, "fire_time", json_time(res, r, 0));
        json_object_set_new(o, "task_id", json_text(value(res, r, 1)));
        json_object_set_new(o, "pipeline_run_id", json_text(value(res, r, 2)));
        json_object_set_new(o, "state", json_text(value(res, r, 3)));
        json_object_set_new(o, "fired_at", json_time(res, r, 4));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    return arr;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void print_show(PGresult *res, const json_t *doc)
{
    char target[CELL_MAX], *tmpl = NULL;
    const json_t *fires = json_object_get(doc, "fires"), *next = json_object_get(doc, "upcoming");
    size_t i;
    json_t *v;

    target_text(res, 0, target, sizeof(target));
    if (json_is_object(json_object_get(doc, "task_template")))
        tmpl = json_dumps(json_object_get(doc, "task_template"), JSON_COMPACT);
    printf("name            %s\n", jstr(doc, "name"));
    printf("id              %s\n", jstr(doc, "id"));
    printf("expression      %s\n", jstr(doc, "expression"));
    printf("time zone       %s\n", jstr(doc, "timezone"));
    printf("target          %s\n", target);
    if (tmpl)
        printf("task template   %s\n", tmpl);
    printf("state           %s\n", jstr(doc, "state"));
    printf("misfire policy  %s", jstr(doc, "misfire_policy"));
    if (strcmp(jstr(doc, "misfire_policy"), "catch_up") == 0)
        printf(" (at most %lld missed slots)",
               (long long)json_integer_value(json_object_get(doc, "catch_up_limit")));
    printf("\nnext fire       %s", json_array_size(next) ? "" : "-");
    json_array_foreach(next, i, v)
    {
        printf("%s%s", i ? ", then " : "", json_string_value(v));
    }
    printf("\nlast fired      %s\n", jstr(doc, "last_fired_at"));
    printf("created         %s\n", jstr(doc, "created_at"));
    printf("updated         %s\n", jstr(doc, "updated_at"));
    printf("\nlatest fired slots (newest first; \"fired\" = not in the history yet):\n");
    if (json_array_size(fires) == 0)
        printf("  (none)\n");
    else
        printf("  %-26s %-26s %-28s %s\n", "FIRE TIME", "CLAIMED AT", "TASK / PIPELINE RUN",
               "STATE");
    json_array_foreach(fires, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "task_id"));
        if (!id)
            id = jstr(v, "pipeline_run_id");
        printf("  %-26s %-26s %-28s %s\n", jstr(v, "fire_time"), jstr(v, "fired_at"), id,
               json_string_value(json_object_get(v, "state"))
                   ? json_string_value(json_object_get(v, "state"))
                   : "fired");
    }
    free(tmpl);
}

int df_sched_cli_show(df_sched_cli_t *cli, char **args)
{
    df_error_t err;
    PGresult *res;
    json_t *doc, *fires;

    df_error_init(&err);
    if (!df_sched_cli_pg(cli))
        return DF_EXIT_FAILURE;
    res = query_schedules(cli, args[0], &err);
    if (!res)
        return df_sched_cli_pg_fail(cli, &err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_sched_cli_fail(cli, DF_SCHED_EXIT_NOT_FOUND, "no schedule named \"%s\"", args[0]);
    }
    doc = row_json(res, 0);
    json_object_set_new(doc, "upcoming", upcoming(res));
    fires = fires_json(cli, PQgetvalue(res, 0, C_ID), &err);
    if (!fires) {
        json_decref(doc);
        PQclear(res);
        return df_sched_cli_pg_fail(cli, &err);
    }
    json_object_set_new(doc, "fires", fires);
    if (cli->cfg.json) {
        PQclear(res);
        return print_json(doc);
    }
    print_show(res, doc);
    PQclear(res);
    json_decref(doc);
    return DF_EXIT_OK;
}
