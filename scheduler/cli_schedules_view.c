/* cli_schedules_view: `schedules list` and `schedules show` (see
 * cli_schedules.h): a readable table or text, or JSON for scripts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_schedules.h"
#include "df_id.h"
#include "schedule_store.h"

#define LIST_COLS  7
#define NEXT_SHOWN 3 /* show: upcoming fire times */
#define CELL_MAX   512

static const char *value(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t ms_value(PGresult *res, int row, int col)
{
    const char *v = value(res, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

static json_t *json_doc(const char *text)
{
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    return doc ? doc : json_null();
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
    json_t *doc = json_doc(value(res, row, DF_SCHED_C_TEMPLATE));

    if (json_is_object(doc)) {
        const char *type = json_string_value(json_object_get(doc, "type"));
        const char *connector = json_string_value(json_object_get(doc, "connector"));
        snprintf(buf, len, "%s %s", type ? type : "?", connector ? connector : "?");
    } else {
        const char *name;
        json_decref(doc);
        doc = json_doc(value(res, row, DF_SCHED_C_PIPELINE));
        name = json_string_value(json_object_get(doc, "name"));
        snprintf(buf, len, "pipeline %s", name ? name : "?");
    }
    json_decref(doc);
}

/* "succeeded 2026-11-22T02:00:00Z", "fired ..." (not in the history yet), or "-". */
static void last_run_text(PGresult *res, int row, char *buf, size_t len)
{
    char when[40];
    const char *state = value(res, row, DF_SCHED_C_RUN_STATE);

    if (!value(res, row, DF_SCHED_C_RUN_FIRE)) {
        snprintf(buf, len, "-");
        return;
    }
    df_sched_cli_time(ms_value(res, row, DF_SCHED_C_RUN_FIRE), when, sizeof(when));
    snprintf(buf, len, "%s %s", state ? state : "fired", when);
}

static void next_text(PGresult *res, int row, char *buf, size_t len)
{
    const char *state = df_schedule_row_state(res, row);

    if (strcmp(state, "enabled") != 0)
        snprintf(buf, len, "(%s)", state);
    else if (!value(res, row, DF_SCHED_C_NEXT))
        snprintf(buf, len, "-");
    else
        df_sched_cli_time(ms_value(res, row, DF_SCHED_C_NEXT), buf, len);
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
    res = df_schedule_query(cli->pg, NULL, &err);
    if (!res)
        return df_sched_cli_pg_fail(cli, &err);
    n = PQntuples(res);
    if (cli->cfg.json) {
        json_t *arr = json_array();
        for (int r = 0; r < n; r++)
            json_array_append_new(arr, df_schedule_row_json(res, r));
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
        snprintf(row[0], CELL_MAX, "%s", PQgetvalue(res, r, DF_SCHED_C_NAME));
        snprintf(row[1], CELL_MAX, "%s", PQgetvalue(res, r, DF_SCHED_C_EXPR));
        snprintf(row[2], CELL_MAX, "%s", PQgetvalue(res, r, DF_SCHED_C_TZ));
        target_text(res, r, row[3], CELL_MAX);
        snprintf(row[4], CELL_MAX, "%s", df_schedule_row_state(res, r));
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
    res = df_schedule_query(cli->pg, args[0], &err);
    if (!res)
        return df_sched_cli_pg_fail(cli, &err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return df_sched_cli_fail(cli, DF_SCHED_EXIT_NOT_FOUND, "no schedule named \"%s\"", args[0]);
    }
    doc = df_schedule_row_json(res, 0);
    json_object_set_new(doc, "upcoming", df_schedule_upcoming(res, 0, NEXT_SHOWN));
    fires = df_schedule_fires(cli->pg, PQgetvalue(res, 0, DF_SCHED_C_ID), cli->cfg.fires, &err);
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
