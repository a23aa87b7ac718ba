/* powerbi_dataset: the push dataset of an export: found by name in the
 * workspace (or by id when target.dataset is a GUID), created with the
 * export's table when missing (one worker of the fleet at a time, under a
 * Redis lock, so exports starting together make one dataset), and checked
 * to have the table and every target column. */
#include "powerbi_dataset.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_id.h"
#include "df_log.h"
#include "df_redis.h"

#define CREATE_LOCK_MS 30000
#define CREATE_WAIT_MS 60000
#define CREATE_TRIES   3 /* sends of POST datasets whose answer was lost */

df_outcome_kind_t df_powerbi_target_invalid(df_outcome_t *out, const char *field, const char *fmt,
                                            const char *arg)
{
    df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target", fmt, arg);
    out->error.code = DF_ERR_INVALID;
    snprintf(out->error.field, sizeof(out->error.field), "%s", field);
    return out->kind;
}

static bool is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* path = "datasets/<id>[/tables/<table>[/<tail>]]", segments escaped. */
bool df_powerbi_dataset_path(char *path, size_t len, const char *id, const char *table,
                             const char *tail)
{
    char eid[3 * DF_POWERBI_DATASET_ID_MAX + 1], etable[3 * 256 + 1];
    df_error_t err;
    int n;

    df_error_init(&err);
    if (df_http_path_escape(id, eid, sizeof(eid), &err) ||
        (table && df_http_path_escape(table, etable, sizeof(etable), &err)))
        return false;
    if (!table)
        n = snprintf(path, len, "datasets/%s%s%s", eid, tail ? "/" : "", tail ? tail : "");
    else
        n = snprintf(path, len, "datasets/%s/tables/%s%s%s", eid, etable, tail ? "/" : "",
                     tail ? tail : "");
    return n > 0 && (size_t)n < len;
}

/* GET path into s->resp, parsed. NULL with out set on failure. */
static json_t *get_json(df_powerbi_target_t *s, const char *path, df_outcome_t *out)
{
    df_powerbi_call_t call = { .method = "GET", .path = path, .idempotent = true };
    json_t *doc;

    if (df_powerbi_send(s->client, &call, &s->resp, out) != DF_OUTCOME_OK)
        return NULL;
    doc = json_loadb(s->resp.body, s->resp.body_len, 0, NULL);
    if (!doc)
        df_outcome_set(out, DF_OUTCOME_RETRY, "platform_unavailable",
                       "Power BI answered GET %s with something that is not JSON", path);
    return doc;
}

/* Take what the connector needs from a Dataset object. */
static df_outcome_kind_t use_dataset(df_powerbi_target_t *s, const json_t *ds, df_outcome_t *out)
{
    const char *id = json_string_value(json_object_get(ds, "id"));
    const char *retention = json_string_value(json_object_get(ds, "defaultRetentionPolicy"));

    if (!id || strlen(id) >= sizeof(s->dataset_id))
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "platform_rejected",
                              "Power BI listed dataset %s without a usable id", s->dataset);
    if (json_is_false(json_object_get(ds, "addRowsAPIEnabled")))
        return df_powerbi_target_invalid(
            out, "/params/target/dataset",
            "dataset %s is not a push dataset: Power BI does not take rows "
            "pushed into it",
            s->dataset);
    snprintf(s->dataset_id, sizeof(s->dataset_id), "%s", id);
    /* Without a retention policy a table is not trimmed; an unknown one
     * is taken as basicFIFO (the cautious reading of counts). */
    s->fifo_cap = retention && strcasecmp(retention, "None") == 0 ? 0 : DF_POWERBI_FIFO_MAX_ROWS;
    return DF_OUTCOME_OK;
}

/* Find the dataset: by id when target.dataset is a GUID (404: permanent),
 * else by name in the workspace (*found false when there is none). */
static df_outcome_kind_t find_dataset(df_powerbi_target_t *s, bool *found, df_outcome_t *out)
{
    char path[600];
    json_t *doc, *ds, *match = NULL;
    size_t i, matches = 0;

    *found = false;
    if (is_guid(s->dataset)) {
        if (!df_powerbi_dataset_path(path, sizeof(path), s->dataset, NULL, NULL))
            return df_powerbi_target_invalid(out, "/params/target/dataset", "bad dataset id %s",
                                             s->dataset);
        if (!(doc = get_json(s, path, out)))
            return out->kind;
        *found = use_dataset(s, doc, out) == DF_OUTCOME_OK;
        json_decref(doc);
        return *found ? DF_OUTCOME_OK : out->kind;
    }
    if (!(doc = get_json(s, "datasets", out)))
        return out->kind;
    json_array_foreach(json_object_get(doc, "value"), i, ds)
    {
        const char *name = json_string_value(json_object_get(ds, "name"));
        if (!name || strcmp(name, s->dataset) != 0)
            continue;
        matches++;
        /* a push dataset over one of another kind with the same name */
        if (!match || (json_is_false(json_object_get(match, "addRowsAPIEnabled")) &&
                       !json_is_false(json_object_get(ds, "addRowsAPIEnabled"))))
            match = ds;
    }
    if (matches > 1)
        df_warn("%zu Power BI datasets are named %s: using the first push dataset listed", matches,
                s->dataset);
    if (match && use_dataset(s, match, out) != DF_OUTCOME_OK) {
        json_decref(doc);
        return out->kind;
    }
    *found = match != NULL;
    json_decref(doc);
    return DF_OUTCOME_OK;
}

/* POST datasets: the push dataset with the one table of the export. A lost
 * answer is checked by listing again (the caller holds the create lock). */
static df_outcome_kind_t post_dataset(df_powerbi_target_t *s, df_outcome_t *out)
{
    json_t *body = df_powerbi_dataset_body(s->dataset, s->table, s->cols), *doc;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    bool maybe_applied = false, found;
    df_powerbi_call_t call = {
        .method = "POST",
        .path = "datasets?defaultRetentionPolicy=basicFIFO",
        .body = text,
        .body_len = text ? strlen(text) : 0,
        .maybe_applied = &maybe_applied,
    };

    json_decref(body);
    if (!text)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    for (int tries = 1;; tries++) {
        maybe_applied = false;
        if (df_powerbi_send(s->client, &call, &s->resp, out) == DF_OUTCOME_OK)
            break;
        if (!maybe_applied || out->kind == DF_OUTCOME_CANCELLED || tries >= CREATE_TRIES) {
            free(text);
            return out->kind;
        }
        df_outcome_free(out);
        df_outcome_init(out);
        if (find_dataset(s, &found, out) != DF_OUTCOME_OK || found) {
            free(text);
            return out->kind;
        }
    }
    free(text);
    doc = json_loadb(s->resp.body, s->resp.body_len, 0, NULL);
    use_dataset(s, doc, out);
    json_decref(doc);
    if (out->kind == DF_OUTCOME_OK) {
        s->created = true;
        df_info("created Power BI push dataset %s (%s) with table %s", s->dataset, s->dataset_id,
                s->table);
    }
    return out->kind;
}

static df_redis_script_t unlock_lua;
static pthread_once_t unlock_once = PTHREAD_ONCE_INIT;

static void unlock_init(void)
{
    df_redis_script_init(&unlock_lua, "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                      "return redis.call('DEL', KEYS[1]) end return 0");
}

static unsigned long long fnv1a(unsigned long long h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The Redis key that lets one worker of the fleet at a time create a
 * dataset of this name in this workspace. */
static void create_lock_key(const df_powerbi_target_t *s, char *key, size_t len)
{
    unsigned long long h = fnv1a(1469598103934665603ULL, df_powerbi_client_base(s->client));

    h = fnv1a(fnv1a(h, "\n"), s->dataset);
    snprintf(key, len, "df:lock:powerbi:dataset:%016llx", h);
}

static bool lock_take(df_redis_t *redis, const char *key, const char *owner)
{
    df_error_t err;
    redisReply *r;
    bool got;

    df_error_init(&err);
    r = df_redis_command(redis, &err, "SET %s %s NX PX %d", key, owner, CREATE_LOCK_MS);
    got = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return got;
}

static void lock_release(df_redis_t *redis, const char *key, const char *owner)
{
    const char *keys[1] = { key }, *args[1] = { owner };
    df_error_t err;

    df_error_init(&err);
    pthread_once(&unlock_once, unlock_init);
    freeReplyObject(df_redis_evalsha(redis, &unlock_lua, 1, keys, 1, args, &err));
}

/* Find the dataset, or create it: under the fleet's lock, so exports
 * starting together into a new dataset make one, not several. */
static df_outcome_kind_t find_or_create(df_powerbi_target_t *s, df_outcome_t *out)
{
    df_redis_t *redis = s->ctx->redis;
    int64_t give_up = df_mono_ms() + CREATE_WAIT_MS;
    char key[96], owner[DF_ID_BUF];
    bool found;

    if (find_dataset(s, &found, out) != DF_OUTCOME_OK || found)
        return out->kind;
    if (s->cols->n == 0)
        return df_powerbi_target_invalid(
            out, "/params/source",
            "dataset %s does not exist and the source has no columns to "
            "define its table",
            s->dataset);
    if (!redis)
        return post_dataset(s, out); /* no fleet: nobody to race */
    create_lock_key(s, key, sizeof(key));
    df_id_ulid(owner);
    for (;;) {
        if (lock_take(redis, key, owner)) {
            if (find_dataset(s, &found, out) == DF_OUTCOME_OK && !found)
                post_dataset(s, out);
            lock_release(redis, key, owner);
            return out->kind;
        }
        if (df_mono_ms() > give_up)
            return df_outcome_set(out, DF_OUTCOME_RETRY, "dataset_busy",
                                  "another worker has been creating dataset %s for over %d s",
                                  s->dataset, CREATE_WAIT_MS / 1000);
        if (df_task_ctx_sleep(s->ctx, 250) != DF_STOP_NONE)
            return df_outcome_set(out, DF_OUTCOME_CANCELLED, "cancelled",
                                  "stopped while another worker created dataset %s", s->dataset);
        if (find_dataset(s, &found, out) != DF_OUTCOME_OK || found)
            return out->kind;
    }
}

/* An existing dataset must have the table and every target column (Power
 * BI cannot add a table to a push dataset; rows with unknown columns are
 * refused). */
static df_outcome_kind_t check_table(df_powerbi_target_t *s, df_outcome_t *out)
{
    char path[600];
    json_t *doc, *t, *table = NULL, *col;
    size_t i;

    if (!df_powerbi_dataset_path(path, sizeof(path), s->dataset_id, NULL, "tables"))
        return df_powerbi_target_invalid(out, "/params/target/dataset", "bad dataset id %s",
                                         s->dataset_id);
    if (!(doc = get_json(s, path, out)))
        return out->kind;
    json_array_foreach(json_object_get(doc, "value"), i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (name && strcasecmp(name, s->table) == 0)
            table = t;
    }
    if (!table) {
        json_decref(doc);
        return df_powerbi_target_invalid(
            out, "/params/target/table",
            "the push dataset has no table %s (Power BI cannot add a table to "
            "an existing push dataset: name a new dataset)",
            s->table);
    }
    if (json_is_array(json_object_get(table, "columns"))) {
        for (size_t c = 0; c < s->cols->n; c++) {
            bool have = false;
            json_array_foreach(json_object_get(table, "columns"), i, col)
            {
                const char *name = json_string_value(json_object_get(col, "name"));
                have = have || (name && strcasecmp(name, s->cols->names[c]) == 0);
            }
            if (!have) {
                json_decref(doc);
                return df_powerbi_target_invalid(
                    out, "/params/mapping",
                    "the Power BI table has no column %s (map the source "
                    "column to one of its columns)",
                    s->cols->names[c]);
            }
        }
    }
    json_decref(doc);
    return DF_OUTCOME_OK;
}

df_outcome_kind_t df_powerbi_target_open(df_powerbi_target_t *s, df_outcome_t *out)
{
    if (find_or_create(s, out) != DF_OUTCOME_OK)
        return out->kind;
    return s->created ? DF_OUTCOME_OK : check_table(s, out);
}
