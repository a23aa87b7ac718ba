/* df_task: task and event messages (see df_task.h). */
#include "df_task.h"

#include <pthread.h>
#include <string.h>

#include "df_id.h"
#include "df_log.h"
#include "df_schema.h"

static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;
static df_schema_t *task_schema;
static df_schema_t *event_schema;
static df_error_t schemas_error;

static void load_schemas(void)
{
    df_error_init(&schemas_error);
    task_schema = df_schema_load_named("task", &schemas_error);
    if (task_schema)
        event_schema = df_schema_load_named("event", &schemas_error);
}

static df_code_t validate_with(df_schema_t **schema, const json_t *doc, df_error_t *err)
{
    pthread_once(&schemas_once, load_schemas);
    if (!*schema) {
        if (err)
            *err = schemas_error;
        return schemas_error.code ? schemas_error.code : DF_ERR_INTERNAL;
    }
    if (!df_schema_validate(*schema, doc, err))
        return err ? err->code : DF_ERR_INVALID;
    return DF_OK;
}

df_code_t df_task_validate(const json_t *task, df_error_t *err)
{
    return validate_with(&task_schema, task, err);
}

df_code_t df_event_validate(const json_t *event, df_error_t *err)
{
    return validate_with(&event_schema, event, err);
}

bool df_state_is_terminal(const char *state)
{
    return state &&
           (strcmp(state, DF_STATE_SUCCEEDED) == 0 || strcmp(state, DF_STATE_FAILED) == 0 ||
            strcmp(state, DF_STATE_DEAD) == 0 || strcmp(state, DF_STATE_CANCELLED) == 0);
}

df_code_t df_task_prepare(json_t *task, const char *submitted_by, df_error_t *err)
{
    char buf[DF_ID_BUF];

    if (!json_is_object(task))
        return df_error_set(err, DF_ERR_INVALID, "", "expected a JSON object (the task)");
    if (!json_object_get(task, "task_id")) {
        df_id_ulid(buf);
        json_object_set_new(task, "task_id", json_string(buf));
    }
    if (!json_object_get(task, "submitted_at")) {
        df_time_format(df_now_ms(), buf, sizeof(buf));
        json_object_set_new(task, "submitted_at", json_string(buf));
    }
    if (submitted_by && *submitted_by && !json_object_get(task, "submitted_by"))
        json_object_set_new(task, "submitted_by", json_string(submitted_by));
    if (!json_object_get(task, "attempt"))
        json_object_set_new(task, "attempt", json_integer(1));
    if (!json_object_get(task, "params"))
        json_object_set_new(task, "params", json_object());
    return df_task_validate(task, err);
}

const char *df_task_str(const json_t *task, const char *field)
{
    return json_string_value(json_object_get(task, field));
}

const char *df_task_key(const json_t *task)
{
    const char *key = df_task_str(task, "ordering_key");
    return key ? key : df_task_str(task, "task_id");
}

int df_task_attempt(const json_t *task)
{
    json_t *a = json_object_get(task, "attempt");
    return json_is_integer(a) ? (int)json_integer_value(a) : 1;
}

json_t *df_event_new(const char *task_id, int attempt, const char *state, const char *worker)
{
    char id[DF_ID_BUF];
    char at[40];
    json_t *ev;

    df_id_ulid(id);
    df_time_format(df_now_ms(), at, sizeof(at));
    ev = json_pack("{s:s, s:s, s:i, s:s, s:s}", "event_id", id, "task_id", task_id, "attempt",
                   attempt, "state", state, "at", at);
    if (ev && worker)
        json_object_set_new(ev, "worker", json_string(worker));
    return ev;
}

void df_event_set_error(json_t *event, const char *code, const df_error_t *err)
{
    char message[DF_ERR_MSG_MAX];
    json_t *e;

    memcpy(message, err->message, sizeof(message));
    message[sizeof(message) - 1] = '\0';
    df_log_redact(message);
    e = json_pack("{s:s, s:s, s:b}", "code", code, "message", message, "retryable", err->retryable);
    if (!e)
        return;
    if (err->retry_after_ms >= 0)
        json_object_set_new(e, "retry_after_ms", json_integer(err->retry_after_ms));
    if (err->field[0])
        json_object_set_new(e, "field", json_string(err->field));
    json_object_set_new(event, "error", e);
}
