/* http_json: the http_json source kind. Reads records from a JSON API:
 * page after page (page number, offset, cursor from the body, RFC 8288
 * Link header, or a single request), optionally over a date range split
 * into windows that are each paginated in turn, optionally enriching each
 * record with the JSON of a per-record URL. Records are flattened like
 * ndjson lines; columns and types come from the first page that has
 * records (bounded by sample_rows) or the `columns` setting. One page is
 * in memory at a time. Credentials come from the worker's environment
 * (auth.token_env, auth.password_env), never from the task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_log.h"
#include "source_internal.h"

#define PAGES_GUARD     100000 /* pages read when max_pages is not set */
#define WINDOWS_MAX     100000
#define BODY_MAX        (32u * 1024u * 1024u)
#define HEADERS_MAX     64
#define PG_BASE         SRC_PATH "/pagination"
#define DATE_RANGE_BASE SRC_PATH "/date_range"
#define ENRICH_BASE     SRC_PATH "/enrich"
#define AUTH_BASE       SRC_PATH "/auth"

typedef enum page_style { STYLE_NONE, STYLE_PAGE, STYLE_OFFSET, STYLE_CURSOR, STYLE_LINK } style_t;

typedef struct hj_src {
    df_source_t base;
    json_t *settings; /* a copy of params.source: the strings below point into it */
    src_http_t *http;
    char *headers[HEADERS_MAX + 1];
    size_t nheaders;
    const char *url, *method, *records_path;
    char *body; /* the request body (JSON text) or NULL */
    /* pagination */
    style_t style;
    const char *param, *size_param, *limit_param, *cursor_path;
    int64_t start, size, limit;
    int64_t max_pages, pages;
    bool max_pages_set;
    /* date range: windows of step days from day_first to day_last */
    bool ranged;
    int64_t day_first, day_last, step, window;
    const char *start_param, *end_param;
    /* enrichment */
    const char *enrich_url, *merge_as;
    bool enrich_null_on_404;
    /* where the reading is */
    bool window_done, all_done;
    int64_t page_in_window, offset;
    char *cursor, *next_url;
    json_t *page;
    const json_t *records; /* borrowed from page */
    size_t next_record, enriched;
    int64_t page_no; /* pages read so far = number of the current page */
    /* records -> rows */
    src_flat_t flat;
    src_schema_t schema;
    json_t *record; /* the record being emitted (a reference) */
    size_t emitted;
    int64_t record_no;
    char note[32];
} hj_src_t;

static df_code_t nomem(df_error_t *err)
{
    return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
}

/* ---- requests ----------------------------------------------------------------- */

/* u with name=value added; frees u. NULL when out of memory. */
static char *with_param(hj_src_t *h, char *u, const char *name, const char *value)
{
    char *out = u ? src_http_add_param(h->http, u, name, value) : NULL;
    free(u);
    return out;
}

static char *with_int(hj_src_t *h, char *u, const char *name, int64_t value)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", (long long)value);
    return with_param(h, u, name, text);
}

/* The URL of the next page of the current window. */
static char *page_url(hj_src_t *h)
{
    char *u;

    if (h->style == STYLE_LINK && h->next_url)
        return strdup(h->next_url);
    u = strdup(h->url);
    if (h->ranged) {
        char from[16], to[16];
        int64_t first = h->day_first + h->window * h->step;
        int64_t last = first + h->step - 1 < h->day_last ? first + h->step - 1 : h->day_last;
        src_days_to_date(first, from, sizeof(from));
        src_days_to_date(last, to, sizeof(to));
        u = with_param(h, u, h->start_param, from);
        u = with_param(h, u, h->end_param, to);
    }
    switch (h->style) {
    case STYLE_PAGE:
        u = with_int(h, u, h->param, h->start + h->page_in_window);
        if (h->size > 0)
            u = with_int(h, u, h->size_param, h->size);
        break;
    case STYLE_OFFSET:
        u = with_int(h, u, h->param, h->offset);
        u = with_int(h, u, h->limit_param, h->limit);
        break;
    case STYLE_CURSOR:
        if (h->cursor)
            u = with_param(h, u, h->param, h->cursor);
        break;
    case STYLE_NONE:
    case STYLE_LINK: break;
    }
    return u;
}

/* The next cursor from the page body: a non-empty string or a number;
 * anything else ends the window. */
static df_code_t next_cursor(hj_src_t *h, df_error_t *err)
{
    const json_t *v = src_json_path(h->page, h->cursor_path);
    char text[64];
    const char *c = NULL;

    if (json_is_string(v) && json_string_length(v) > 0) {
        c = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        c = text;
    }
    if (!c) {
        h->window_done = true;
        return DF_OK;
    }
    if (h->cursor && strcmp(h->cursor, c) == 0)
        return df_error_set(err, DF_ERR_INVALID, PG_BASE "/cursor_path",
                            "page %lld: the API returned the same cursor again (\"%.64s\"); "
                            "stopping instead of looping",
                            (long long)h->page_no, c);
    free(h->cursor);
    h->cursor = strdup(c);
    return h->cursor ? DF_OK : nomem(err);
}

/* Fetch the current window's next page into h->page / h->records and
 * work out where the one after it is. */
static df_code_t fetch_page(hj_src_t *h, df_error_t *err)
{
    char what[48];
    src_http_resp_t resp;
    json_error_t jerr;
    const json_t *records;
    char *u;
    df_code_t rc;

    if (h->pages >= h->max_pages) {
        if (!h->max_pages_set)
            return df_error_set(err, DF_ERR_INVALID, PG_BASE "/max_pages",
                                "more than %lld pages: set pagination.max_pages if the API "
                                "really has that many",
                                (long long)h->max_pages);
        df_warn("source http_json: stopped after max_pages (%lld) pages", (long long)h->max_pages);
        h->all_done = true;
        return DF_OK;
    }
    u = page_url(h);
    if (!u)
        return nomem(err);
    h->pages++;
    h->page_no = h->pages;
    snprintf(what, sizeof(what), "page %lld", (long long)h->page_no);
    rc = src_http_fetch(h->http, what, h->method, u, h->body, &resp, err);
    free(u);
    if (rc != DF_OK)
        return rc;
    json_decref(h->page);
    h->records = NULL;
    h->next_record = h->enriched = 0;
    h->page = json_loadb(resp.body, resp.len, JSON_DECODE_ANY, &jerr);
    if (!h->page)
        return df_error_set(err, DF_ERR_INVALID, "page", "page %lld: the response is not JSON: %s",
                            (long long)h->page_no, jerr.text);
    records = src_json_path(h->page, h->records_path);
    if (records && !json_is_null(records) && !json_is_array(records))
        return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/records_path",
                            "page %lld: %s is not an array of records%s", (long long)h->page_no,
                            *h->records_path ? h->records_path : "the response",
                            *h->records_path ? "" : " (set records_path)");
    h->records = json_is_array(records) ? records : NULL;
    if (!h->records || json_array_size(h->records) == 0) {
        h->window_done = true;
        return DF_OK;
    }
    switch (h->style) {
    case STYLE_NONE: h->window_done = true; break;
    case STYLE_PAGE: h->page_in_window++; break;
    case STYLE_OFFSET: h->offset += (int64_t)json_array_size(h->records); break;
    case STYLE_CURSOR: return next_cursor(h, err);
    case STYLE_LINK:
        free(h->next_url);
        h->next_url = NULL;
        if (!resp.next_link)
            h->window_done = true;
        else if (!(h->next_url = strdup(resp.next_link)))
            return nomem(err);
        break;
    }
    return DF_OK;
}

/* Fetch until a page with records comes, or the end. */
static df_code_t advance(hj_src_t *h, df_error_t *err)
{
    while (!h->all_done) {
        df_code_t rc;
        if (h->records && h->next_record < json_array_size(h->records))
            return DF_OK;
        if (h->window_done) {
            if (!h->ranged || h->day_first + (h->window + 1) * h->step > h->day_last) {
                h->all_done = true;
                break;
            }
            h->window++;
            h->window_done = false;
            h->page_in_window = h->offset = 0;
            free(h->cursor);
            free(h->next_url);
            h->cursor = h->next_url = NULL;
        }
        if (src_should_stop(&h->base))
            return df_error_set(err, DF_ERR_CANCELLED, NULL, "source http_json: stopped");
        if ((rc = fetch_page(h, err)) != DF_OK)
            return rc;
    }
    json_decref(h->page);
    h->page = NULL;
    h->records = NULL;
    return DF_OK;
}

/* ---- enrichment --------------------------------------------------------------- */

/* The enrich URL with each {field} replaced by the record's value
 * (percent-encoded). NULL with err set when a field is missing. */
static char *enrich_url(hj_src_t *h, const json_t *rec, int64_t row, df_error_t *err)
{
    size_t cap = strlen(h->enrich_url) + 1, len = 0;
    char *out = malloc(cap);

    for (const char *p = h->enrich_url; out && *p;) {
        const char *piece = p, *close;
        size_t n = 1;
        char *esc = NULL, field[256], text[64];
        if (*p == '{' && (close = strchr(p, '}')) && (size_t)(close - p - 1) < sizeof(field)) {
            const json_t *v;
            memcpy(field, p + 1, (size_t)(close - p - 1));
            field[close - p - 1] = '\0';
            v = src_json_path(rec, field);
            if (json_is_string(v)) {
                piece = json_string_value(v);
            } else if (json_is_integer(v)) {
                snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                piece = text;
            } else {
                free(out);
                src_row_error(err, row, h->note, "enrich: the record has no value for {%s}", field);
                return NULL;
            }
            esc = src_http_escape(h->http, piece);
            if (!esc) {
                free(out);
                nomem(err);
                return NULL;
            }
            piece = esc;
            n = strlen(esc);
            p = close + 1;
        } else {
            p++;
        }
        if (cap - len < n + 1) {
            char *bigger;
            while (cap - len < n + 1)
                cap *= 2;
            bigger = realloc(out, cap);
            if (!bigger)
                free(out);
            out = bigger;
        }
        if (out) {
            memcpy(out + len, piece, n);
            len += n;
            out[len] = '\0';
        }
        free(esc);
    }
    if (!out)
        nomem(err);
    return out;
}

/* Merge the JSON of the record's enrich URL under merge_as. */
static df_code_t enrich(hj_src_t *h, json_t *rec, int64_t row, df_error_t *err)
{
    char what[48];
    src_http_resp_t resp;
    json_error_t jerr;
    json_t *extra;
    df_code_t rc;
    char *u = enrich_url(h, rec, row, err);

    if (!u)
        return err ? err->code : DF_ERR_INVALID;
    snprintf(what, sizeof(what), "row %lld: enrich", (long long)row);
    rc = src_http_fetch(h->http, what, "GET", u, NULL, &resp, err);
    free(u);
    if (rc == DF_ERR_HTTP && resp.status == 404 && h->enrich_null_on_404) {
        df_error_clear(err);
        return json_object_set_new(rec, h->merge_as, json_null()) ? nomem(err) : DF_OK;
    }
    if (rc != DF_OK)
        return rc;
    extra = json_loadb(resp.body, resp.len, JSON_DECODE_ANY, &jerr);
    if (!extra)
        return src_row_error(err, row, h->note, "enrich: the response is not JSON: %s", jerr.text);
    return json_object_set_new(rec, h->merge_as, extra) ? nomem(err) : DF_OK;
}

/* The next record (enriched) in *rec, borrowed from the page; NULL at the
 * end. row is its number (for errors). */
static df_code_t take_record(hj_src_t *h, json_t **rec, int64_t row, df_error_t *err)
{
    json_t *r;
    df_code_t rc = advance(h, err);

    *rec = NULL;
    if (rc != DF_OK || h->all_done)
        return rc;
    r = json_array_get(h->records, h->next_record);
    snprintf(h->note, sizeof(h->note), "page %lld", (long long)h->page_no);
    if (!json_is_object(r))
        return src_row_error(err, row, h->note, "expected a JSON object, got %s",
                             json_is_array(r) ? "an array" : "a scalar value");
    if (h->enrich_url && h->next_record >= h->enriched) {
        if ((rc = enrich(h, r, row, err)) != DF_OK)
            return rc;
        h->enriched = h->next_record + 1;
    }
    h->next_record++;
    *rec = r;
    return DF_OK;
}

static df_code_t hj_next(df_source_t *src, df_chunk_t *chunk, size_t max_rows, df_error_t *err)
{
    hj_src_t *h = (hj_src_t *)src;

    while (chunk->nrows < max_rows) {
        df_code_t rc;
        if (!h->record || h->emitted >= h->flat.nrows) {
            json_t *rec;
            json_decref(h->record);
            h->record = NULL;
            if ((rc = take_record(h, &rec, h->record_no + 1, err)) != DF_OK)
                return rc;
            if (!rec)
                break;
            h->record_no++;
            h->record = json_incref(rec);
            h->emitted = 0;
            if ((rc = src_flat_record(&h->flat, rec, h->record_no, h->note, err)) != DF_OK)
                return rc;
        }
        rc = src_schema_emit(&h->schema, &h->flat, &h->emitted, chunk, max_rows, h->record_no,
                             h->note, err);
        if (rc != DF_OK)
            return rc;
    }
    return DF_OK;
}

static void hj_close(df_source_t *src)
{
    hj_src_t *h = (hj_src_t *)src;
    src_http_destroy(h->http);
    for (size_t i = 0; i < h->nheaders; i++) {
        memset(h->headers[i], 0, strlen(h->headers[i])); /* may hold a token */
        free(h->headers[i]);
    }
    free(h->body);
    free(h->cursor);
    free(h->next_url);
    json_decref(h->record);
    json_decref(h->page);
    json_decref(h->settings);
    src_flat_free(&h->flat);
    src_schema_free(&h->schema);
    src_base_free(src);
    free(h);
}

static const src_ops_t hj_ops = { "http_json", hj_next, hj_close };

/* ---- settings ------------------------------------------------------------------ */

static const char *const hj_settings[] = {
    "kind",
    "url",
    "method",
    "headers",
    "body",
    "auth",
    "records_path",
    "pagination",
    "max_pages",
    "flatten",
    "flatten_separator",
    "arrays",
    "unknown_keys",
    "columns",
    "sample_rows",
    "enrich",
    "date_range",
    "retries",
    "timeout_ms",
    NULL,
};

static bool http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

static df_code_t add_header(hj_src_t *h, const char *name, const char *value, df_error_t *err)
{
    size_t len = strlen(name) + strlen(value) + 3;
    if (h->nheaders >= HEADERS_MAX)
        return df_error_set(err, DF_ERR_INVALID, SRC_PATH "/headers",
                            SRC_PATH "/headers: more than %d headers", HEADERS_MAX);
    h->headers[h->nheaders] = malloc(len);
    if (!h->headers[h->nheaders])
        return nomem(err);
    snprintf(h->headers[h->nheaders], len, "%s: %s", name, value);
    h->nheaders++;
    return DF_OK;
}

static df_code_t read_headers(hj_src_t *h, df_error_t *err)
{
    const json_t *headers;
    const char *name;
    json_t *value;
    df_code_t rc = src_get_obj(h->settings, SRC_PATH, "headers", &headers, err);

    if (rc != DF_OK || !headers)
        return rc;
    json_object_foreach((json_t *)headers, name, value)
    {
        char field[DF_ERR_FIELD_MAX];
        bool token = *name != '\0';
        snprintf(field, sizeof(field), SRC_PATH "/headers/%s", name);
        for (const char *c = name; *c; c++)
            token &= (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= '0' && *c <= '9') || strchr("!#$%&'*+-.^_`|~", *c) != NULL;
        if (!token)
            return df_error_set(err, DF_ERR_INVALID, field, "%s: not a header name", field);
        if (strcasecmp(name, "Authorization") == 0 ||
            strcasecmp(name, "Proxy-Authorization") == 0 || strcasecmp(name, "Cookie") == 0)
            return df_error_set(err, DF_ERR_INVALID, field,
                                "%s: credentials never travel in tasks: use auth (the secret is "
                                "read from the worker's environment)",
                                field);
        if (!json_is_string(value) || strpbrk(json_string_value(value), "\r\n"))
            return df_error_set(err, DF_ERR_INVALID, field,
                                "%s: expected a string without line breaks", field);
        if ((rc = add_header(h, name, json_string_value(value), err)) != DF_OK)
            return rc;
    }
    return DF_OK;
}

/* The value of the environment variable named by auth.<key>. */
static df_code_t secret_from_env(const json_t *auth, const char *key, const char **out,
                                 df_error_t *err)
{
    const char *name;
    df_code_t rc = src_get_str(auth, AUTH_BASE, key, true, NULL, &name, err);
    if (rc != DF_OK)
        return rc;
    *out = getenv(name);
    if (!*out || !**out) {
        char field[DF_ERR_FIELD_MAX];
        snprintf(field, sizeof(field), AUTH_BASE "/%s", key);
        return df_error_set(err, DF_ERR_INVALID, field,
                            "%s: the environment variable %.64s is not set on this worker", field,
                            name);
    }
    df_log_redact_add(*out);
    return DF_OK;
}

static df_code_t read_auth(hj_src_t *h, src_http_opts_t *opts, df_error_t *err)
{
    static const char *const types[] = { "bearer", "basic", NULL };
    static const char *const bearer_keys[] = { "type", "token_env", NULL };
    static const char *const basic_keys[] = { "type", "username", "password_env", NULL };
    const json_t *auth;
    int type;
    df_code_t rc = src_get_obj(h->settings, SRC_PATH, "auth", &auth, err);

    if (rc != DF_OK || !auth)
        return rc;
    if (!json_object_get(auth, "type"))
        return df_error_set(err, DF_ERR_INVALID, AUTH_BASE "/type",
                            AUTH_BASE "/type: required (\"bearer\" or \"basic\")");
    if ((rc = src_get_enum(auth, AUTH_BASE, "type", types, 0, &type, err)) != DF_OK)
        return rc;
    if (type == 0) {
        const char *token;
        char *value;
        if ((rc = src_check_keys(auth, AUTH_BASE, "bearer auth", bearer_keys, err)) != DF_OK ||
            (rc = secret_from_env(auth, "token_env", &token, err)) != DF_OK)
            return rc;
        value = malloc(strlen(token) + 8);
        if (!value)
            return nomem(err);
        snprintf(value, strlen(token) + 8, "Bearer %s", token);
        rc = add_header(h, "Authorization", value, err);
        memset(value, 0, strlen(value));
        free(value);
        return rc;
    }
    if ((rc = src_check_keys(auth, AUTH_BASE, "basic auth", basic_keys, err)) != DF_OK ||
        (rc = src_get_str(auth, AUTH_BASE, "username", true, NULL, &opts->basic_user, err)) !=
            DF_OK)
        return rc;
    return secret_from_env(auth, "password_env", &opts->basic_password, err);
}

static df_code_t read_pagination(hj_src_t *h, df_error_t *err)
{
    static const char *const styles[] = { "none", "page", "offset", "cursor", "link", NULL };
    static const char *const keys[] = { "type",       "style",       "param",     "start",
                                        "size_param", "size",        "page_size", "limit_param",
                                        "limit",      "cursor_path", "max_pages", NULL };
    const json_t *pg;
    int style = 0;
    int64_t page_size;
    df_code_t rc = src_get_obj(h->settings, SRC_PATH, "pagination", &pg, err);

    if (rc != DF_OK || !pg)
        return rc;
    if ((rc = src_check_keys(pg, PG_BASE, "pagination", keys, err)) != DF_OK)
        return rc;
    /* "style" is the schema's name for "type". */
    if ((rc = src_get_enum(pg, PG_BASE, json_object_get(pg, "type") ? "type" : "style", styles, 0,
                           &style, err)) != DF_OK)
        return rc;
    h->style = (style_t)style;
    if ((rc = src_get_int(pg, PG_BASE, "page_size", 1, 100000, 0, &page_size, err)) != DF_OK ||
        (rc = src_get_int(pg, PG_BASE, "max_pages", 1, INT64_MAX, h->max_pages, &h->max_pages,
                          err)) != DF_OK)
        return rc;
    h->max_pages_set |= json_object_get(pg, "max_pages") != NULL;
    switch (h->style) {
    case STYLE_PAGE:
        if ((rc = src_get_str(pg, PG_BASE, "param", false, "page", &h->param, err)) != DF_OK ||
            (rc = src_get_int(pg, PG_BASE, "start", 0, INT32_MAX, 1, &h->start, err)) != DF_OK ||
            (rc = src_get_str(pg, PG_BASE, "size_param", false, "per_page", &h->size_param, err)) !=
                DF_OK ||
            (rc = src_get_int(pg, PG_BASE, "size", 1, 100000, page_size, &h->size, err)) != DF_OK)
            return rc;
        break;
    case STYLE_OFFSET:
        if ((rc = src_get_str(pg, PG_BASE, "param", false, "offset", &h->param, err)) != DF_OK ||
            (rc = src_get_str(pg, PG_BASE, "limit_param", false, "limit", &h->limit_param, err)) !=
                DF_OK ||
            (rc = src_get_int(pg, PG_BASE, "limit", 1, 100000, page_size ? page_size : 100,
                              &h->limit, err)) != DF_OK)
            return rc;
        break;
    case STYLE_CURSOR:
        if ((rc = src_get_str(pg, PG_BASE, "param", false, "cursor", &h->param, err)) != DF_OK ||
            (rc = src_get_str(pg, PG_BASE, "cursor_path", true, NULL, &h->cursor_path, err)) !=
                DF_OK)
            return rc;
        break;
    case STYLE_NONE:
    case STYLE_LINK: break;
    }
    return DF_OK;
}

static df_code_t read_date_range(hj_src_t *h, df_error_t *err)
{
    static const char *const keys[] = { "start",       "end",       "step_days",
                                        "start_param", "end_param", NULL };
    const json_t *dr;
    const char *start, *end;
    df_code_t rc = src_get_obj(h->settings, SRC_PATH, "date_range", &dr, err);

    if (rc != DF_OK || !dr)
        return rc;
    if ((rc = src_check_keys(dr, DATE_RANGE_BASE, "date_range", keys, err)) != DF_OK ||
        (rc = src_get_str(dr, DATE_RANGE_BASE, "start", true, NULL, &start, err)) != DF_OK ||
        (rc = src_get_str(dr, DATE_RANGE_BASE, "end", true, NULL, &end, err)) != DF_OK ||
        (rc = src_get_str(dr, DATE_RANGE_BASE, "start_param", false, "start", &h->start_param,
                          err)) != DF_OK ||
        (rc = src_get_str(dr, DATE_RANGE_BASE, "end_param", false, "end", &h->end_param, err)) !=
            DF_OK)
        return rc;
    if (!src_date_to_days(start, &h->day_first))
        return df_error_set(err, DF_ERR_INVALID, DATE_RANGE_BASE "/start",
                            DATE_RANGE_BASE "/start: expected a date YYYY-MM-DD");
    if (!src_date_to_days(end, &h->day_last) || h->day_last < h->day_first)
        return df_error_set(err, DF_ERR_INVALID, DATE_RANGE_BASE "/end",
                            DATE_RANGE_BASE "/end: expected a date YYYY-MM-DD, not before start");
    if ((rc = src_get_int(dr, DATE_RANGE_BASE, "step_days", 1, 100000,
                          h->day_last - h->day_first + 1, &h->step, err)) != DF_OK)
        return rc;
    if ((h->day_last - h->day_first) / h->step + 1 > WINDOWS_MAX)
        return df_error_set(err, DF_ERR_INVALID, DATE_RANGE_BASE "/step_days",
                            DATE_RANGE_BASE "/step_days: more than %d windows", WINDOWS_MAX);
    h->ranged = true;
    return DF_OK;
}

static df_code_t read_enrich(hj_src_t *h, df_error_t *err)
{
    static const char *const keys[] = { "url", "merge_as", "missing", NULL };
    static const char *const missing[] = { "error", "null", NULL };
    const json_t *en;
    int on_missing;
    df_code_t rc = src_get_obj(h->settings, SRC_PATH, "enrich", &en, err);

    if (rc != DF_OK || !en)
        return rc;
    if ((rc = src_check_keys(en, ENRICH_BASE, "enrich", keys, err)) != DF_OK ||
        (rc = src_get_str(en, ENRICH_BASE, "url", true, NULL, &h->enrich_url, err)) != DF_OK ||
        (rc = src_get_str(en, ENRICH_BASE, "merge_as", false, "details", &h->merge_as, err)) !=
            DF_OK ||
        (rc = src_get_enum(en, ENRICH_BASE, "missing", missing, 0, &on_missing, err)) != DF_OK)
        return rc;
    if (!http_url(h->enrich_url))
        return df_error_set(err, DF_ERR_INVALID, ENRICH_BASE "/url",
                            ENRICH_BASE "/url: expected an http:// or https:// URL template");
    h->enrich_null_on_404 = on_missing == 1;
    return DF_OK;
}

static df_code_t read_settings(hj_src_t *h, src_http_opts_t *opts, int64_t *sample_rows,
                               df_error_t *err)
{
    static const char *const methods[] = { "GET", "POST", NULL };
    const json_t *body;
    int method;
    int64_t retries, timeout_ms;
    df_code_t rc = src_check_keys(h->settings, SRC_PATH, "kind http_json", hj_settings, err);

    if (rc == DF_OK)
        rc = src_get_str(h->settings, SRC_PATH, "url", true, NULL, &h->url, err);
    if (rc == DF_OK && !http_url(h->url))
        rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/url",
                          SRC_PATH "/url: expected an http:// or https:// URL");
    if (rc == DF_OK)
        rc = src_get_enum(h->settings, SRC_PATH, "method", methods, 0, &method, err);
    if (rc == DF_OK)
        h->method = methods[method];
    body = json_object_get(h->settings, "body");
    if (rc == DF_OK && body && !json_is_null(body)) {
        h->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!h->body)
            rc = nomem(err);
        else if (method == 0)
            rc = df_error_set(err, DF_ERR_INVALID, SRC_PATH "/body",
                              SRC_PATH "/body: a body needs method POST");
    }
    if (rc == DF_OK)
        rc = src_get_str(h->settings, SRC_PATH, "records_path", false, "", &h->records_path, err);
    if (rc == DF_OK)
        rc = src_get_int(h->settings, SRC_PATH, "max_pages", 1, INT64_MAX, PAGES_GUARD,
                         &h->max_pages, err);
    h->max_pages_set = json_object_get(h->settings, "max_pages") != NULL;
    if (rc == DF_OK)
        rc = read_pagination(h, err);
    if (rc == DF_OK)
        rc = read_date_range(h, err);
    if (rc == DF_OK)
        rc = read_enrich(h, err);
    if (rc == DF_OK)
        rc = read_headers(h, err);
    if (rc == DF_OK)
        rc = read_auth(h, opts, err);
    if (rc == DF_OK)
        rc = src_get_int(h->settings, SRC_PATH, "retries", 0, 20, 5, &retries, err);
    if (rc == DF_OK)
        rc =
            src_get_int(h->settings, SRC_PATH, "timeout_ms", 100, 3600000, 60000, &timeout_ms, err);
    if (rc == DF_OK)
        rc = src_get_int(h->settings, SRC_PATH, "sample_rows", 1, SRC_SAMPLE_MAX,
                         SRC_SAMPLE_DEFAULT, sample_rows, err);
    if (rc == DF_OK)
        rc = src_get_shape(h->settings, &h->flat, &h->schema, err);
    if (rc == DF_OK)
        rc = src_schema_given(&h->schema, h->settings, err);
    opts->headers = (const char *const *)h->headers;
    opts->nheaders = h->nheaders;
    opts->retries = (int)retries;
    opts->timeout_ms = (int)timeout_ms;
    opts->max_wait_ms = 60000;
    opts->max_body = BODY_MAX;
    return rc;
}

/* Columns from the first page with records (at most sample_rows of them),
 * unless every column is given with its type. The records stay for
 * reading. */
static df_code_t sample(hj_src_t *h, int64_t sample_rows, df_error_t *err)
{
    bool need = !h->schema.frozen;
    df_code_t rc;

    for (size_t c = 0; c < h->schema.ncols; c++)
        need |= !h->schema.typed[c];
    if ((rc = advance(h, err)) != DF_OK)
        return rc;
    for (size_t i = 0;
         need && h->records && i < json_array_size(h->records) && i < (size_t)sample_rows; i++) {
        json_t *r = json_array_get(h->records, i);
        int64_t row = (int64_t)i + 1;
        snprintf(h->note, sizeof(h->note), "page %lld", (long long)h->page_no);
        if (!json_is_object(r))
            break; /* reported when read */
        if (h->enrich_url && i >= h->enriched) {
            if ((rc = enrich(h, r, row, err)) != DF_OK)
                return rc;
            h->enriched = i + 1;
        }
        if ((rc = src_flat_record(&h->flat, r, row, h->note, err)) != DF_OK ||
            (rc = src_schema_sample(&h->schema, &h->flat, row, h->note, err)) != DF_OK)
            return rc;
    }
    return src_schema_freeze(&h->schema, h->flat.sep, err);
}

df_source_t *src_http_json_open(const json_t *source, const df_source_env_t *env, df_error_t *err)
{
    hj_src_t *h = calloc(1, sizeof(*h));
    src_http_opts_t opts;
    int64_t sample_rows = SRC_SAMPLE_DEFAULT;
    df_code_t rc;

    if (!h) {
        nomem(err);
        return NULL;
    }
    memset(&opts, 0, sizeof(opts));
    src_base_init(&h->base, &hj_ops, env);
    src_flat_init(&h->flat, true, false, ".");
    h->settings = json_deep_copy(source);
    rc = h->settings ? src_schema_init(&h->schema, err) : nomem(err);
    if (rc == DF_OK)
        rc = read_settings(h, &opts, &sample_rows, err);
    if (rc == DF_OK && env && env->traceparent && *env->traceparent) {
        /* The task's trace continues into the source's requests. */
        rc = add_header(h, "traceparent", env->traceparent, err);
        opts.nheaders = h->nheaders;
    }
    if (rc == DF_OK) {
        opts.should_stop = env ? env->should_stop : NULL;
        opts.stop_ctx = env ? env->stop_ctx : NULL;
        h->http = src_http_new(&opts, err);
        if (!h->http)
            rc = err ? err->code : DF_ERR_NOMEM;
    }
    if (rc == DF_OK)
        rc = sample(h, sample_rows, err);
    if (rc == DF_OK && !src_set_columns(&h->base, h->schema.columns, h->schema.ncols))
        rc = nomem(err);
    if (rc != DF_OK) {
        hj_close(&h->base);
        return NULL;
    }
    return &h->base;
}
