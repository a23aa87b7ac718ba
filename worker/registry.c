/* registry: connector lookup by name (see registry.h). */
#include "registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_log.h"
#include "df_schema.h"
#include "connectors/google_sheets.h"
#include "connectors/powerbi.h"

#define SECRET_FILE_MAX (64 * 1024)

static const df_connector_ops_t *const kinds[] = {
    &df_connector_noop,     &df_connector_google_sheets, &df_connector_powerbi,
    &df_connector_postgres, &df_connector_tableau,       &df_connector_qlik,
    &df_connector_looker,
};

/* Each kind's retry defaults (docs/RETRIES.md): the platform's own advice
 * where it gives some; connector definitions override them (`retry`).
 * Zero fields inherit (by_type from `all`, `all` from df_retry_fallback). */
static const struct kind_retry {
    const char *kind;
    df_retry_defaults_t retry;
} kind_retries[] = {
    /* Nothing to protect: short waits keep tests and benchmarks quick. */
    { "noop", { .all = { .base_ms = 100, .cap_ms = 10000, .max_attempts = 100 } } },
    /* Power BI: throttling answers carry Retry-After; a refresh that failed
     * (capacity busy, refresh limit) is worth a few slow tries only. */
    { "powerbi",
      { .all = { .base_ms = 1000, .cap_ms = 300000, .max_attempts = 10 },
        .by_type = { [DF_RETRY_REFRESH] = { .base_ms = 30000,
                                            .cap_ms = 1800000,
                                            .max_attempts = 5 } } } },
    /* Google Sheets: Google's advice is exponential backoff up to 64 s. */
    { "google_sheets", { .all = { .base_ms = 1000, .cap_ms = 64000, .max_attempts = 10 } } },
    /* PostgreSQL catalogue reads: a database restarting is back in seconds. */
    { "postgres", { .all = { .base_ms = 1000, .cap_ms = 30000, .max_attempts = 5 } } },
    /* Tableau: 429 and 5xx answers are worth a few tries; a refresh
     * refused as "already queued" is adopted, not retried. */
    { "tableau", { .all = { .base_ms = 1000, .cap_ms = 120000, .max_attempts = 8 } } },
    /* Qlik Cloud: reload POSTs are metered over 5 minutes (429 with
     * Retry-After); a reload whose POST answer was lost is found, not
     * posted again. */
    { "qlik", { .all = { .base_ms = 1000, .cap_ms = 300000, .max_attempts = 8 } } },
    /* Looker: 429 and 5xx are worth a few tries; a PDT build that failed
     * is not retried (it fails the same way). */
    { "looker", { .all = { .base_ms = 1000, .cap_ms = 120000, .max_attempts = 8 } } },
};

/* What lookups see: connector objects with resolved secrets, owned by the
 * snapshot alone (deep copies), and a reference count: one for being
 * current, one per definition found and not released. */
struct df_registry_snapshot {
    int refs; /* atomic */
    json_t *conns;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct df_registry_snapshot *current; /* under lock */
static json_t *file_conns;                   /* under lock: the file's, resolved */
static json_t *pg_conns;                     /* under lock: PostgreSQL's, resolved */
static int pg_expected, pg_loaded;           /* atomic */
static json_t *empty_object;
static pthread_once_t empty_once = PTHREAD_ONCE_INIT;

const df_connector_ops_t *df_registry_kind_ops(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i]->kind, kind) == 0)
            return kinds[i];
    return NULL;
}

const df_retry_defaults_t *df_registry_kind_retry(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof(kind_retries) / sizeof(kind_retries[0]); i++)
        if (strcmp(kind_retries[i].kind, kind) == 0)
            return &kind_retries[i].retry;
    return &df_retry_fallback;
}

void df_registry_retry_policy(const df_connector_def_t *def, const char *type,
                              df_retry_policy_t *out)
{
    df_retry_policy_resolve(df_registry_kind_retry(def->kind), def->retry, type, out);
}

/* cap_ms below base_ms in one retry object is a mistake worth naming. */
static df_code_t check_retry_object(const json_t *obj, const char *path, const char *where,
                                    df_error_t *err)
{
    json_t *base = json_object_get(obj, "base_ms"), *cap = json_object_get(obj, "cap_ms");

    if (json_is_integer(base) && json_is_integer(cap) &&
        json_integer_value(cap) < json_integer_value(base))
        return df_error_set(
            err, DF_ERR_INVALID, where, "%s: %s: cap_ms (%lld) is below base_ms (%lld)", path,
            where, (long long)json_integer_value(cap), (long long)json_integer_value(base));
    return DF_OK;
}

static df_code_t check_retry(const json_t *conn, const char *path, const char *name,
                             df_error_t *err)
{
    const json_t *retry = json_object_get(conn, "retry");
    const char *type;
    json_t *policy;
    char where[256];

    if (!retry)
        return DF_OK;
    snprintf(where, sizeof(where), "/%s/retry", name);
    if (check_retry_object(retry, path, where, err))
        return err->code;
    json_object_foreach((json_t *)json_object_get(retry, "by_type"), type, policy)
    {
        snprintf(where, sizeof(where), "/%s/retry/by_type/%s", name, type);
        if (check_retry_object(policy, path, where, err))
            return err->code;
    }
    return DF_OK;
}

static void make_empty(void)
{
    empty_object = json_object();
}

static const json_t *empty(void)
{
    pthread_once(&empty_once, make_empty);
    return empty_object;
}

/* Zero the secrets of an array of connectors and free it. */
static void conns_free(json_t *conns)
{
    size_t i;
    json_t *conn;

    json_array_foreach(conns, i, conn) df_connector_secrets_wipe(json_object_get(conn, "secrets"));
    json_decref(conns);
}

static void snapshot_release(struct df_registry_snapshot *snap)
{
    if (!snap || __atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    conns_free(snap->conns);
    free(snap);
}

static bool has_name(const json_t *conns, const char *name)
{
    size_t i;
    json_t *conn;

    json_array_foreach(conns, i, conn)
    {
        if (strcmp(json_string_value(json_object_get(conn, "name")), name) == 0)
            return true;
    }
    return false;
}

/* Make a snapshot of the file's connectors and PostgreSQL's (a file's
 * connector wins a name clash) current. Called with lock held. */
static void install_locked(void)
{
    struct df_registry_snapshot *snap = calloc(1, sizeof(*snap)), *old = current;
    size_t i;
    json_t *conn;

    if (!snap || !(snap->conns = json_array())) {
        free(snap);
        df_error("out of memory: the connectors loaded last stay in use");
        return;
    }
    snap->refs = 1;
    json_array_foreach(file_conns, i, conn)
        json_array_append_new(snap->conns, json_deep_copy(conn));
    json_array_foreach(pg_conns, i, conn)
    {
        const char *name = json_string_value(json_object_get(conn, "name"));
        if (has_name(file_conns, name))
            df_debug("connector %s: the connectors file's definition wins over PostgreSQL's", name);
        else
            json_array_append_new(snap->conns, json_deep_copy(conn));
    }
    current = snap;
    snapshot_release(old);
}

/* Replace one source (*slot, under lock) by conns (owned) and install. */
static void set_source(json_t **slot, json_t *conns)
{
    pthread_mutex_lock(&lock);
    conns_free(*slot);
    *slot = conns;
    install_locked();
    pthread_mutex_unlock(&lock);
}

void df_registry_clear(void)
{
    pthread_mutex_lock(&lock);
    conns_free(file_conns);
    conns_free(pg_conns);
    file_conns = pg_conns = NULL;
    snapshot_release(current);
    current = NULL;
    pthread_mutex_unlock(&lock);
    __atomic_store_n(&pg_loaded, 0, __ATOMIC_RELEASE);
}

/* Read a secret from a file (trailing newline dropped). */
static char *read_secret_file(const char *path, df_error_t *err, const char *where)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    if (!f) {
        df_error_set(err, DF_ERR_INVALID, where, "cannot read secret file %s: %s", path,
                     strerror(errno));
        return NULL;
    }
    buf = malloc(SECRET_FILE_MAX + 1);
    n = buf ? fread(buf, 1, SECRET_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > SECRET_FILE_MAX) {
        free(buf);
        df_error_set(err, DF_ERR_INVALID, where, "secret file %s is over %d bytes", path,
                     SECRET_FILE_MAX);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

/* Replace each secret reference of conn by its value. */
static df_code_t resolve_secrets(json_t *conn, const char *name, df_error_t *err)
{
    json_t *secrets = json_object_get(conn, "secrets");
    const char *key;
    json_t *value;
    char where[256];

    json_object_foreach(secrets, key, value)
    {
        const char *env = json_string_value(json_object_get(value, "env"));
        const char *file = json_string_value(json_object_get(value, "file"));
        snprintf(where, sizeof(where), "/%s/secrets/%s", name, key);
        if (env) {
            const char *v = getenv(env);
            if (!v || !*v)
                return df_error_set(err, DF_ERR_INVALID, where,
                                    "connector %s: secret %s: environment variable %s is not set",
                                    name, key, env);
            df_log_redact_add(v);
            json_object_set_new(secrets, key, json_string(v));
        } else if (file) {
            char *v = read_secret_file(file, err, where);
            if (!v)
                return err->code;
            df_log_redact_add(v);
            json_object_set_new(secrets, key, json_string(v));
            df_secret_free_str(v);
        } else if (json_is_string(value)) {
            df_log_redact_add(json_string_value(value));
        }
    }
    return DF_OK;
}

df_code_t df_registry_load_file(const char *path, df_error_t *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *list, *conn, *out;
    df_schema_t *schema;
    size_t i;

    if (!doc)
        return df_error_set(err, DF_ERR_INVALID, path, "%s: line %d: %s", path, jerr.line,
                            jerr.text);
    list = json_is_array(doc) ? doc : json_object_get(doc, "connectors");
    if (!json_is_array(list)) {
        json_decref(doc);
        return df_error_set(err, DF_ERR_INVALID, path,
                            "%s: expected an array of connectors or {\"connectors\": [...]}", path);
    }
    schema = df_schema_load_named("connector", err);
    if (!schema) {
        json_decref(doc);
        return err->code;
    }
    out = json_array();
    json_array_foreach(list, i, conn)
    {
        const char *name = json_string_value(json_object_get(conn, "name"));
        json_t *copy;
        size_t j;
        json_t *seen;

        if (!df_schema_validate(schema, conn, err)) {
            df_error_prefix(err, "%s: connector %zu (%s) at %s", path, i, name ? name : "?",
                            err->field[0] ? err->field : "/");
            goto fail;
        }
        if (check_retry(conn, path, name, err))
            goto fail;
        if (strcmp(name, "noop") == 0) {
            df_error_set(err, DF_ERR_INVALID, "/name", "%s: the name \"noop\" is built in", path);
            goto fail;
        }
        json_array_foreach(out, j, seen)
        {
            if (strcmp(json_string_value(json_object_get(seen, "name")), name) == 0) {
                df_error_set(err, DF_ERR_INVALID, "/name", "%s: connector %s is defined twice",
                             path, name);
                goto fail;
            }
        }
        copy = json_deep_copy(conn);
        json_array_append_new(out, copy);
        if (resolve_secrets(copy, name, err))
            goto fail;
        if (!df_registry_kind_ops(json_string_value(json_object_get(copy, "kind"))))
            df_warn("connector %s: kind %s is not implemented by this worker; its tasks fail", name,
                    json_string_value(json_object_get(copy, "kind")));
    }
    df_schema_destroy(schema);
    json_decref(doc);
    df_info("loaded %zu connector(s) from %s", json_array_size(out), path);
    set_source(&file_conns, out);
    return DF_OK;
fail:
    df_schema_destroy(schema);
    json_decref(doc);
    conns_free(out);
    return err->code;
}

/* An unavailable connector: its name, kind and why (no secrets). */
static json_t *unavailable_conn(const char *name, const char *kind, const char *why)
{
    return json_pack("{s:s, s:s, s:s}", "name", name, "kind", kind ? kind : "noop", "_unavailable",
                     why);
}

df_code_t df_registry_load_pg(df_pg_t *pg, const df_secret_keyring_t *keyring, int64_t *version,
                              df_error_t *err)
{
    df_connector_set_t set;
    json_t *out, *conn, *failed;
    size_t i, unusable = 0;

    if (df_connector_store_load(pg, keyring, &set, err))
        return err->code;
    out = json_array();
    json_array_foreach(set.defs, i, conn)
    {
        const char *name = json_string_value(json_object_get(conn, "name"));
        const char *kind = json_string_value(json_object_get(conn, "kind"));
        json_t *copy = json_deep_copy(conn);
        df_error_t rerr;

        df_error_init(&rerr);
        if (resolve_secrets(copy, name, &rerr)) {
            df_error("connector %s from PostgreSQL cannot be used: %s", name, rerr.message);
            df_connector_secrets_wipe(json_object_get(copy, "secrets"));
            json_decref(copy);
            copy = unavailable_conn(name, kind, rerr.message);
            unusable++;
        } else if (!df_registry_kind_ops(kind)) {
            df_warn("connector %s: kind %s is not implemented by this worker; its tasks fail", name,
                    kind);
        }
        json_array_append_new(out, copy);
    }
    json_array_foreach(set.failed, i, failed)
    {
        const char *name = json_string_value(json_object_get(failed, "name"));
        const char *why = json_string_value(json_object_get(failed, "error"));
        df_error("connector %s from PostgreSQL cannot be used: %s", name, why);
        json_array_append_new(out, unavailable_conn(name, NULL, why));
        unusable++;
    }
    if (version)
        *version = set.version;
    df_info("loaded %zu connector(s) from PostgreSQL (registry version %lld)%s",
            json_array_size(out) - unusable, (long long)set.version,
            unusable ? "; some cannot be used (logged above)" : "");
    df_connector_set_free(&set);
    set_source(&pg_conns, out);
    __atomic_store_n(&pg_loaded, 1, __ATOMIC_RELEASE);
    return DF_OK;
}

void df_registry_expect_pg(bool expect)
{
    __atomic_store_n(&pg_expected, expect ? 1 : 0, __ATOMIC_RELEASE);
}

bool df_registry_pg_ready(void)
{
    return !__atomic_load_n(&pg_expected, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&pg_loaded, __ATOMIC_ACQUIRE);
}

void df_registry_release(df_connector_def_t *def)
{
    if (!def || !def->snapshot)
        return;
    snapshot_release(def->snapshot);
    def->snapshot = NULL;
}

bool df_registry_find(const char *name, df_connector_def_t *out)
{
    struct df_registry_snapshot *snap;
    size_t i;
    json_t *conn;

    if (!name)
        return false;
    if (strcmp(name, "noop") == 0) {
        df_connector_def_t def = { .name = "noop",
                                   .kind = "noop",
                                   .ops = &df_connector_noop,
                                   .config = empty(),
                                   .secrets = empty(),
                                   .enabled = true };
        *out = def;
        return true;
    }
    pthread_mutex_lock(&lock);
    snap = current;
    if (snap)
        __atomic_add_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&lock);
    if (!snap)
        return false;
    json_array_foreach(snap->conns, i, conn)
    {
        if (strcmp(json_string_value(json_object_get(conn, "name")), name) == 0) {
            json_t *enabled = json_object_get(conn, "enabled");
            const char *kind = json_string_value(json_object_get(conn, "kind"));
            out->name = json_string_value(json_object_get(conn, "name"));
            out->kind = kind;
            out->ops = df_registry_kind_ops(kind);
            out->config =
                json_object_get(conn, "config") ? json_object_get(conn, "config") : empty();
            out->secrets =
                json_object_get(conn, "secrets") ? json_object_get(conn, "secrets") : empty();
            out->limits = json_object_get(conn, "limits");
            out->retry = json_object_get(conn, "retry");
            out->enabled = !json_is_false(enabled);
            out->unavailable = json_string_value(json_object_get(conn, "_unavailable"));
            out->snapshot = snap;
            return true;
        }
    }
    snapshot_release(snap);
    return false;
}
