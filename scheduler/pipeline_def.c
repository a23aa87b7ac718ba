/* pipeline_def: pipeline definitions and step task ids (see
 * pipeline_def.h). */
#include "pipeline_def.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_config.h"
#include "df_id.h"
#include "df_schema.h"
#include "pipeline_template.h"
#include "df_task.h"

/* ---- the schema, loaded once ---- */

static pthread_once_t schema_once = PTHREAD_ONCE_INIT;
static df_schema_t *schema;
static df_error_t schema_error;

static void load_schema(void)
{
    df_error_init(&schema_error);
    schema = df_schema_load_named("pipeline", &schema_error);
}

/* ---- checking a definition ---- */

typedef struct def_view {
    size_t n;
    const json_t *steps[DF_PIPELINE_STEPS_MAX];
    const char *name[DF_PIPELINE_STEPS_MAX];
    /* waits[i][j]: step i waits for step j directly; before[i][j]: step j
     * comes before step i (directly or through others) */
    bool waits[DF_PIPELINE_STEPS_MAX][DF_PIPELINE_STEPS_MAX];
    bool before[DF_PIPELINE_STEPS_MAX][DF_PIPELINE_STEPS_MAX];
} def_view_t;

static int step_index(const def_view_t *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->name[i], name) == 0)
            return (int)i;
    return -1;
}

static df_code_t read_steps(const json_t *def, def_view_t *v, df_error_t *err)
{
    const json_t *steps = json_object_get(def, "steps");

    v->n = json_array_size(steps);
    for (size_t i = 0; i < v->n; i++) {
        char field[64];
        v->steps[i] = json_array_get(steps, i);
        v->name[i] = json_string_value(json_object_get(v->steps[i], "name"));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v->name[i], v->name[j]) == 0) {
                snprintf(field, sizeof(field), "/steps/%zu/name", i);
                return df_error_set(err, DF_ERR_INVALID, field,
                                    "step name \"%s\" is used twice (steps %zu and %zu): names "
                                    "must be unique",
                                    v->name[i], j, i);
            }
        }
    }
    return DF_OK;
}

static df_code_t read_edges(def_view_t *v, df_error_t *err)
{
    for (size_t i = 0; i < v->n; i++) {
        const json_t *after = json_object_get(v->steps[i], "after");
        const json_t *name;
        size_t j;

        if (!after) {
            if (i > 0)
                v->waits[i][i - 1] = true;
            continue;
        }
        json_array_foreach(after, j, name)
        {
            char field[64];
            int k = step_index(v, json_string_value(name));
            snprintf(field, sizeof(field), "/steps/%zu/after/%zu", i, j);
            if (k < 0)
                return df_error_set(err, DF_ERR_INVALID, field,
                                    "no step is named \"%s\" (expected the name of a step of "
                                    "this pipeline)",
                                    json_string_value(name));
            if ((size_t)k == i)
                return df_error_set(err, DF_ERR_INVALID, field,
                                    "step \"%s\" cannot wait for itself", v->name[i]);
            v->waits[i][k] = true;
        }
    }
    return DF_OK;
}

/* The field of the edge i -> j for messages: its `after` entry, or the step
 * itself when it waits for the step before it implicitly. */
static void edge_field(const def_view_t *v, size_t i, size_t j, char *field, size_t len)
{
    const json_t *after = json_object_get(v->steps[i], "after");
    const json_t *name;
    size_t k;

    snprintf(field, len, "/steps/%zu", i);
    json_array_foreach(after, k, name)
    {
        if (strcmp(json_string_value(name), v->name[j]) == 0) {
            snprintf(field, len, "/steps/%zu/after/%zu", i, k);
            return;
        }
    }
}

/* Depth-first search for a cycle through the waits-for edges (colour: 0
 * unseen, 1 on the path, 2 done). On a cycle, err names the edge closing it
 * and the message lists the steps around it. */
static bool find_cycle(const def_view_t *v, size_t i, int *colour, size_t *path, size_t depth,
                       df_error_t *err)
{
    colour[i] = 1;
    path[depth] = i;
    for (size_t j = 0; j < v->n; j++) {
        if (!v->waits[i][j])
            continue;
        if (colour[j] == 1) {
            char field[64], cycle[400] = "";
            size_t at = 0;
            while (path[at] != j)
                at++;
            for (size_t k = at; k <= depth; k++)
                df_pipeline_append(cycle, sizeof(cycle), "%s -> ", v->name[path[k]]);
            df_pipeline_append(cycle, sizeof(cycle), "%s", v->name[j]);
            edge_field(v, i, j, field, sizeof(field));
            df_error_set(err, DF_ERR_INVALID, field,
                         "the steps wait for each other in a cycle (%s: each waits for the "
                         "next): expected an order with no cycle",
                         cycle);
            return true;
        }
        if (colour[j] == 0 && find_cycle(v, j, colour, path, depth + 1, err))
            return true;
    }
    colour[i] = 2;
    return false;
}

/* before[i][*] = every step i waits for, directly or through others (the
 * graph has no cycle). */
static void close_before(def_view_t *v, size_t i, bool *done)
{
    if (done[i])
        return;
    for (size_t j = 0; j < v->n; j++) {
        if (!v->waits[i][j])
            continue;
        close_before(v, j, done);
        v->before[i][j] = true;
        for (size_t k = 0; k < v->n; k++)
            v->before[i][k] = v->before[i][k] || v->before[j][k];
    }
    done[i] = true;
}

static bool is_run_field(const char *name)
{
    static const char *const fields[] = { "id", "pipeline", "started_at", "fire_time" };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(name, fields[i]) == 0)
            return true;
    return false;
}

/* One template of step i at field: it must name a run field, or the task
 * id or result of a step i waits for. */
static df_code_t check_ref(const def_view_t *v, size_t i, const df_pipeline_ref_t *ref,
                           const char *field, df_error_t *err)
{
    int k;

    if (strcmp(ref->seg[0], "run") == 0) {
        if (ref->n == 2 && is_run_field(ref->seg[1]))
            return DF_OK;
        return df_error_set(err, DF_ERR_INVALID, field,
                            "template ${run...}: expected ${run.id}, ${run.pipeline}, "
                            "${run.started_at} or ${run.fire_time}");
    }
    if (strcmp(ref->seg[0], "steps") != 0)
        return df_error_set(err, DF_ERR_INVALID, field,
                            "template ${%s...}: expected ${steps.NAME.result...}, "
                            "${steps.NAME.task_id} or ${run.FIELD}",
                            ref->seg[0]);
    if (ref->n < 3 || (strcmp(ref->seg[2], "result") != 0 && strcmp(ref->seg[2], "task_id") != 0) ||
        (strcmp(ref->seg[2], "task_id") == 0 && ref->n != 3))
        return df_error_set(err, DF_ERR_INVALID, field,
                            "template ${steps.%s...}: expected ${steps.%s.result} (optionally "
                            "followed by .KEY parts) or ${steps.%s.task_id}",
                            ref->n > 1 ? ref->seg[1] : "NAME", ref->n > 1 ? ref->seg[1] : "NAME",
                            ref->n > 1 ? ref->seg[1] : "NAME");
    k = step_index(v, ref->seg[1]);
    if (k < 0)
        return df_error_set(err, DF_ERR_INVALID, field,
                            "template ${steps.%s...}: no step is named \"%s\"", ref->seg[1],
                            ref->seg[1]);
    if (!v->before[i][k])
        return df_error_set(err, DF_ERR_INVALID, field,
                            "template ${steps.%s...}: step \"%s\" does not wait for step \"%s\" "
                            "(directly or through others), so its result may not exist yet: "
                            "add \"%s\" to its after list",
                            ref->seg[1], v->name[i], ref->seg[1], ref->seg[1]);
    return DF_OK;
}

/* Every template of value (inside step i's params) at path. */
static df_code_t check_templates(const def_view_t *v, size_t i, const json_t *value, char *path,
                                 size_t len, df_error_t *err)
{
    size_t n = strlen(path);
    df_code_t rc = DF_OK;

    if (json_is_string(value)) {
        const char *s = json_string_value(value);
        size_t pos = 0, begin, cb, ce;
        int found;
        df_pipeline_ref_t ref;

        while ((found = df_pipeline_template_next(s, &pos, &begin, &cb, &ce)) == 1) {
            if (!df_pipeline_ref_parse(s + cb, ce - cb, &ref, err, path))
                return err->code;
            if ((rc = check_ref(v, i, &ref, path, err)))
                return rc;
        }
        if (found < 0)
            return df_error_set(err, DF_ERR_INVALID, path,
                                "a \"${\" without its closing \"}\" (write $${ for a literal ${)");
    } else if (json_is_object(value)) {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)value, key, child)
        {
            df_pipeline_pointer_add(path, len, key);
            rc = check_templates(v, i, child, path, len, err);
            path[n] = '\0';
            if (rc)
                return rc;
        }
    } else if (json_is_array(value)) {
        size_t j;
        json_t *child;
        json_array_foreach(value, j, child)
        {
            df_pipeline_pointer_index(path, len, j);
            rc = check_templates(v, i, child, path, len, err);
            path[n] = '\0';
            if (rc)
                return rc;
        }
    }
    return DF_OK;
}

df_code_t df_pipeline_def_check(const json_t *def, df_error_t *err)
{
    def_view_t *v;
    int colour[DF_PIPELINE_STEPS_MAX] = { 0 };
    size_t path[DF_PIPELINE_STEPS_MAX];
    bool done[DF_PIPELINE_STEPS_MAX] = { false };
    df_code_t rc = DF_OK;

    pthread_once(&schema_once, load_schema);
    if (!schema) {
        if (err)
            *err = schema_error;
        return schema_error.code ? schema_error.code : DF_ERR_INTERNAL;
    }
    if (!df_schema_validate(schema, def, err))
        return DF_ERR_INVALID;
    v = calloc(1, sizeof(*v));
    if (!v)
        return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    if ((rc = read_steps(def, v, err)) || (rc = read_edges(v, err)))
        goto out;
    for (size_t i = 0; i < v->n; i++) {
        if (colour[i] == 0 && find_cycle(v, i, colour, path, 0, err)) {
            rc = DF_ERR_INVALID;
            goto out;
        }
    }
    for (size_t i = 0; i < v->n; i++)
        close_before(v, i, done);
    for (size_t i = 0; i < v->n && !rc; i++) {
        char field[DF_ERR_FIELD_MAX];
        const json_t *params = json_object_get(v->steps[i], "params");
        snprintf(field, sizeof(field), "/steps/%zu/params", i);
        if (params)
            rc = check_templates(v, i, params, field, sizeof(field), err);
    }
out:
    free(v);
    return rc;
}

json_t *df_pipeline_def_after(const json_t *def, size_t i)
{
    const json_t *steps = json_object_get(def, "steps");
    const json_t *step = json_array_get(steps, i);
    const json_t *after = json_object_get(step, "after");
    json_t *list;

    if (!step)
        return NULL;
    if (after)
        return json_deep_copy(after);
    list = json_array();
    if (list && i > 0)
        json_array_append(list, json_object_get(json_array_get(steps, i - 1), "name"));
    return list;
}

json_t *df_pipeline_def_normalize(const json_t *def)
{
    json_t *copy = json_deep_copy(def);
    json_t *steps = json_object_get(copy, "steps");

    for (size_t i = 0; copy && i < json_array_size(steps); i++) {
        json_t *after = df_pipeline_def_after(def, i);
        if (!after || json_object_set_new(json_array_get(steps, i), "after", after)) {
            json_decref(copy);
            return NULL;
        }
    }
    return copy;
}

/* ---- the task of a step ---- */

static void copy_if(json_t *task, const json_t *step, const char *name)
{
    json_t *v = json_object_get(step, name);
    if (v)
        json_object_set_new(task, name, json_deep_copy(v));
}

json_t *df_pipeline_step_task(const json_t *step, const json_t *scope, const char *run_id,
                              const char *task_id, const char *pipeline, const char *schedule_id,
                              int64_t now_ms, df_error_t *err)
{
    const json_t *params = json_object_get(step, "params");
    const char *deadline = json_string_value(json_object_get(step, "deadline"));
    json_t *task, *filled;
    char by[160], when[40];

    filled = params ? df_pipeline_render(params, scope, "/params", err) : json_object();
    if (!filled)
        return NULL;
    snprintf(by, sizeof(by), "pipeline:%s", pipeline);
    task = json_pack("{s:s, s:O, s:O, s:o, s:{s:s, s:O}, s:s}", "task_id", task_id, "type",
                     json_object_get(step, "type"), "connector", json_object_get(step, "connector"),
                     "params", filled, "pipeline", "run_id", run_id, "step",
                     json_object_get(step, "name"), "submitted_by", by);
    if (!task) {
        df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        return NULL;
    }
    copy_if(task, step, "max_attempts");
    copy_if(task, step, "ordering_key");
    copy_if(task, step, "labels");
    if (schedule_id)
        json_object_set_new(task, "schedule_id", json_string(schedule_id));
    if (deadline) {
        int64_t ms;
        if (df_config_parse_duration(deadline, &ms, err) != DF_OK) {
            snprintf(err->field, sizeof(err->field), "/deadline");
            json_decref(task);
            return NULL;
        }
        df_time_format(now_ms + ms, when, sizeof(when));
        json_object_set_new(task, "deadline", json_string(when));
    }
    if (df_task_prepare(task, by, err) != DF_OK) {
        json_decref(task);
        return NULL;
    }
    return task;
}

/* ---- step task ids ---- */

static int crockford_value(char c)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The millisecond time a run id carries (a ULID's first 10 characters, a
 * UUIDv7's first 48 bits). false when run_id is neither. */
static bool run_id_time(const char *run_id, int64_t *ms)
{
    size_t len = run_id ? strlen(run_id) : 0;
    uint64_t t = 0;

    if (len == DF_ULID_LEN) {
        for (size_t i = 0; i < DF_ULID_LEN; i++) {
            int v = crockford_value(run_id[i]);
            if (v < 0 || (i == 0 && v > 7))
                return false;
            if (i < 10)
                t = (t << 5) | (uint64_t)v;
        }
        *ms = (int64_t)t;
        return true;
    }
    if (len == 36) {
        static const char shape[] = "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx";
        for (size_t i = 0; i < len; i++) {
            char want = shape[i];
            if (want == '-' || want == '7') {
                if (run_id[i] != want)
                    return false;
            } else if (hex_value(run_id[i]) < 0 || (want == 'y' && !strchr("89ab", run_id[i]))) {
                return false;
            }
        }
        for (size_t i = 0; i < 13; i++)
            if (run_id[i] != '-')
                t = (t << 4) | (uint64_t)hex_value(run_id[i]);
        *ms = (int64_t)t;
        return true;
    }
    return false;
}

bool df_pipeline_run_id_valid(const char *run_id)
{
    int64_t ms;
    return run_id_time(run_id, &ms);
}

bool df_pipeline_step_task_id(const char *run_id, const char *step, int rerun, char *buf)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char input[512];
    int n;
    int64_t ms;

    if (!run_id_time(run_id, &ms) || !step)
        return false;
    n = snprintf(input, sizeof(input), "datafleet.pipeline-step\n%s\n%s\n%d", run_id, step, rerun);
    if (n < 0 || (size_t)n >= sizeof(input) ||
        !EVP_Digest(input, (size_t)n, digest, &dlen, EVP_sha256(), NULL) || dlen < 10)
        return false;
    df_id_ulid_at(buf, ms, digest);
    return true;
}

int df_pipeline_step_rerun(const char *run_id, const char *step, const char *task_id)
{
    char id[DF_ID_BUF];

    for (int i = 0; task_id && i < DF_PIPELINE_RERUNS_MAX; i++) {
        if (!df_pipeline_step_task_id(run_id, step, i, id))
            return -1;
        if (strcmp(id, task_id) == 0)
            return i;
    }
    return -1;
}
