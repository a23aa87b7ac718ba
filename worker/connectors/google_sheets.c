/* google_sheets: the google_sheets connector kind (see google_sheets.h
 * and docs/CONNECTORS.md): the export modes over the Sheets client of
 * google_sheets_api.h. Rows go in requests of at most REQUEST_MAX bytes.
 * An append is the one call that is not idempotent: before each one, the
 * sheet's grid row count expected once it landed is recorded in the
 * export's checkpoint hash (df:ckpt:{task_id}); after a lost answer, or
 * when a later attempt resumes, the grid tells whether it landed
 * (values.append with INSERT_ROWS adds exactly its rows to the grid). */
#include "google_sheets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_hmap.h"
#include "df_log.h"
#include "df_redis.h"
#include "export.h"
#include "google_sheets_api.h"

#define REQUEST_MAX    (1024 * 1024) /* body bytes per request; Google advises < 2 MB */
#define ROW_OVERHEAD   80            /* bytes a row may add to a body besides its values */
#define CHUNK_ROWS_MAX 10000
#define KEY_PAGE_ROWS  20000                                      /* key rows read per values.get */
#define BATCH_HEAD     "{\"valueInputOption\":\"RAW\",\"data\":[" /* values:batchUpdate */
#define CKPT_KEEP_S    (7 * 24 * 3600)

enum { APPEND, REPLACE, UPSERT };

typedef struct gs {
    df_task_ctx_t *ctx;
    df_sheets_client_t *api;
    const char *id, *sheet; /* borrowed from the task or the connector */
    int mode;
    size_t ncols;
    json_t *names; /* the header: target column names */
    df_col_type_t *types;
    int64_t grid_rows, grid_cols, other_cells; /* the sheet's grid, the others' cells */
    int64_t skip;                              /* rows of the stream already in the sheet */
    size_t *key_idx, nkeys;
    df_hmap_t *keys; /* upsert: key text -> sheet row (> 0), or -(pending append + 1) */
    size_t *pick;    /* the rows of the chunk being sent ... */
    int64_t *dest;   /* ... and, for upsert updates, their sheet rows */
    size_t cap;      /* of pick and dest */
    int64_t appended, updated;
} gs_t;

static const char *str(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s && *s ? s : NULL;
}

static df_outcome_kind_t retry_in(df_outcome_t *out, int64_t ms)
{
    out->retry_after_ms = out->error.retry_after_ms = ms;
    return out->kind;
}

static void gs_free(gs_t *g)
{
    if (!g)
        return;
    df_sheets_client_close(g->api);
    df_hmap_destroy(g->keys);
    json_decref(g->names);
    free(g->types);
    free(g->key_idx);
    free(g->pick);
    free(g->dest);
    free(g);
}

/* The state of one task: the spreadsheet from params.target
 * (spreadsheet_id, or dataset), the connector's config.spreadsheet_id, or
 * params.spreadsheet_id; its client. NULL with out set. */
static gs_t *gs_new(df_task_ctx_t *ctx, const json_t *target, df_outcome_t *out)
{
    const json_t *cfg = ctx->connector_config;
    gs_t *g = calloc(1, sizeof(*g));

    if (!g) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
        return NULL;
    }
    g->ctx = ctx;
    g->id = str(target, "spreadsheet_id") ? str(target, "spreadsheet_id")
            : str(target, "dataset")      ? str(target, "dataset")
            : str(cfg, "spreadsheet_id")  ? str(cfg, "spreadsheet_id")
                                          : str(ctx->params, "spreadsheet_id");
    g->sheet = str(target, "sheet");
    if (g->id && strlen(g->id) > DF_SHEETS_SPREADSHEET_MAX) {
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target",
                       "spreadsheet id longer than %d characters", DF_SHEETS_SPREADSHEET_MAX);
        gs_free(g);
        return NULL;
    }
    if (!(g->api = df_sheets_client_open(ctx, g->id, out))) {
        gs_free(g);
        return NULL;
    }
    return g;
}

/* spreadsheets.get: the target sheet's grid and the other sheets' cells;
 * with create, add the sheet when it is missing. */
static df_outcome_kind_t sheet_info(gs_t *g, bool create, df_outcome_t *out)
{
    json_t *reply, *sheet, *p;
    bool found = false;
    size_t i;
    char *body;

    if (df_sheets_call(g->api, "GET", "", NULL, DF_SHEETS_READ, &reply, NULL, out) !=
        DF_OUTCOME_OK) {
        df_error_prefix(&out->error, "spreadsheet %s", g->id);
        return out->kind;
    }
    g->other_cells = 0;
    json_array_foreach(json_object_get(reply, "sheets"), i, sheet)
    {
        json_t *grid =
            json_object_get((p = json_object_get(sheet, "properties")), "gridProperties");
        int64_t rows = json_integer_value(json_object_get(grid, "rowCount"));
        int64_t cols = json_integer_value(json_object_get(grid, "columnCount"));
        if (!found && str(p, "title") && strcasecmp(str(p, "title"), g->sheet) == 0) {
            found = true;
            g->grid_rows = rows;
            g->grid_cols = cols;
        } else {
            g->other_cells += rows * cols;
        }
    }
    json_decref(reply);
    if (found || !create)
        return found ? DF_OUTCOME_OK
                     : df_outcome_set(out, DF_OUTCOME_PERMANENT, "sheet_changed",
                                      "sheet %s disappeared from spreadsheet %s", g->sheet, g->id);
    p = json_pack("{s:[{s:{s:{s:s,s:{s:i,s:I}}}}]}", "requests", "addSheet", "properties", "title",
                  g->sheet, "gridProperties", "rowCount", 1, "columnCount",
                  (json_int_t)(g->ncols ? g->ncols : 1));
    body = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (!body)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    df_info("creating sheet %s in spreadsheet %s", g->sheet, g->id);
    df_sheets_call(g->api, "POST", ":batchUpdate", body, DF_SHEETS_WRITE, &reply, NULL, out);
    free(body);
    json_decref(reply);
    /* invalid_argument: another task added it meanwhile ("already exists") */
    return out->kind == DF_OUTCOME_OK || strcmp(out->code, "invalid_argument") == 0
               ? sheet_info(g, false, out)
               : out->kind;
}

/* Refuse a write that would take the spreadsheet past Google's cell limit:
 * the sheet's grid would be rows x max(its columns, the export's). */
static df_outcome_kind_t cells_check(gs_t *g, int64_t rows, df_outcome_t *out)
{
    int64_t cols = g->grid_cols > (int64_t)g->ncols ? g->grid_cols : (int64_t)g->ncols;

    if (g->other_cells + rows * cols <= DF_SHEETS_CELLS_MAX)
        return DF_OUTCOME_OK;
    return df_outcome_set(out, DF_OUTCOME_PERMANENT, "cell_limit",
                          "writing would take spreadsheet %s to %lld cells (sheet %s: %lld rows x "
                          "%lld columns); Google Sheets holds at most %d cells per spreadsheet",
                          g->id, (long long)(g->other_cells + rows * cols), g->sheet,
                          (long long)rows, (long long)cols, DF_SHEETS_CELLS_MAX);
}

/* values.update of rows texts at sheet rows row0.. (columns A..). */
static df_outcome_kind_t update_rows(gs_t *g, int64_t row0, char **texts, size_t n,
                                     df_outcome_t *out)
{
    char range[DF_SHEETS_A1_MAX], path[DF_SHEETS_A1_MAX * 3 + 64], *body;
    int64_t row1 = row0 + (int64_t)n - 1;
    json_t *reply;

    if (cells_check(g, row1 > g->grid_rows ? row1 : g->grid_rows, out) != DF_OUTCOME_OK)
        return out->kind;
    if (!df_sheets_a1(g->sheet, 0, g->ncols - 1, row0, row1, range, sizeof(range)) ||
        df_sheets_values_path(range, "?valueInputOption=RAW", path, sizeof(path), out) !=
            DF_OUTCOME_OK)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target", "bad range");
    if (!(body = df_sheets_values_body("", texts, n)))
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    if (df_sheets_call(g->api, "PUT", path, body, DF_SHEETS_WRITE, &reply, NULL, out) ==
        DF_OUTCOME_OK) {
        g->grid_rows = row1 > g->grid_rows ? row1 : g->grid_rows;
        g->grid_cols = g->grid_cols > (int64_t)g->ncols ? g->grid_cols : (int64_t)g->ncols;
    }
    free(body);
    json_decref(reply);
    return out->kind;
}

/* Row 1: write the header when the row is empty, else it must name the
 * export's columns in order. */
static df_outcome_kind_t header(gs_t *g, bool known_empty, df_outcome_t *out)
{
    size_t cols = g->grid_cols < (int64_t)g->ncols ? (size_t)g->grid_cols : g->ncols, i;
    char range[DF_SHEETS_A1_MAX], path[DF_SHEETS_A1_MAX * 3 + 16], *have, *want;
    json_t *reply = NULL, *row, *v;
    bool same = true, empty;

    if (!known_empty && cols > 0) {
        if (!df_sheets_a1(g->sheet, 0, cols - 1, 1, 1, range, sizeof(range)) ||
            df_sheets_values_path(range, "", path, sizeof(path), out) != DF_OUTCOME_OK ||
            df_sheets_call(g->api, "GET", path, NULL, DF_SHEETS_READ, &reply, NULL, out) !=
                DF_OUTCOME_OK)
            return out->kind;
        row = json_array_get(json_object_get(reply, "values"), 0);
        json_array_foreach(g->names, i, v) same = same && json_equal(v, json_array_get(row, i));
        if (json_array_size(row) > 0 && !same) {
            have = json_dumps(row, JSON_COMPACT);
            want = json_dumps(g->names, JSON_COMPACT);
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "header_mismatch",
                           "sheet %s row 1 holds %.200s but the export's columns are %.200s "
                           "(map them with params.mapping, or use another sheet)",
                           g->sheet, have ? have : "?", want ? want : "?");
            free(have);
            free(want);
        }
        empty = json_array_size(row) == 0;
        json_decref(reply);
        if (!empty || out->kind != DF_OUTCOME_OK)
            return out->kind;
    }
    want = json_dumps(g->names, JSON_COMPACT);
    if (!want)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    update_rows(g, 1, &want, 1, out);
    free(want);
    return out->kind;
}

/* ---- append: the in-flight record and resume ------------------------------ */

static void ckpt_key(const gs_t *g, char *key, size_t len)
{
    snprintf(key, len, "df:ckpt:%s", g->ctx->task_id);
}

/* Before an append of n rows ending at export row end: the grid row count
 * the sheet has once it landed. Without it no append is sent. */
static df_outcome_kind_t inflight_put(gs_t *g, int64_t grid, int64_t n, int64_t end,
                                      df_outcome_t *out)
{
    char key[128], v[3][24];
    df_redis_field_t f[] = { { "gs_grid_rows", v[0] },
                             { "gs_req_rows", v[1] },
                             { "gs_req_end", v[2] } };
    df_error_t err;

    if (!g->ctx->redis)
        return DF_OUTCOME_OK;
    df_error_init(&err);
    ckpt_key(g, key, sizeof(key));
    snprintf(v[0], sizeof(v[0]), "%lld", (long long)grid);
    snprintf(v[1], sizeof(v[1]), "%lld", (long long)n);
    snprintf(v[2], sizeof(v[2]), "%lld", (long long)end);
    if (df_redis_hset(g->ctx->redis, key, f, 3, &err) != DF_OK) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "checkpoint_unavailable",
                       "cannot record the append in flight: %s", err.message);
        return retry_in(out, 2000);
    }
    snprintf(v[0], sizeof(v[0]), "%d", CKPT_KEEP_S);
    freeReplyObject(df_redis_command(g->ctx->redis, &err, "EXPIRE %s %s", key, v[0]));
    return DF_OUTCOME_OK;
}

/* Resuming after done rows: did the append in flight when the last attempt
 * stopped land? Sets g->skip to the rows of the stream already in the
 * sheet (those of the landed requests beyond the checkpoint). */
static df_outcome_kind_t resume_append(gs_t *g, int64_t done, df_outcome_t *out)
{
    char key[128];
    int64_t f[3] = { 0, 0, 0 };
    df_error_t err;
    redisReply *r;

    if (!g->ctx->redis)
        return DF_OUTCOME_OK;
    df_error_init(&err);
    ckpt_key(g, key, sizeof(key));
    r = df_redis_command(g->ctx->redis, &err, "HMGET %s gs_grid_rows gs_req_rows gs_req_end", key);
    if (!r) {
        df_outcome_set(out, DF_OUTCOME_RETRY, "checkpoint_unavailable", "%s", err.message);
        return retry_in(out, 2000);
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && i < 3; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            f[i] = strtoll(r->element[i]->str, NULL, 10);
    freeReplyObject(r);
    if (f[2] <= done)
        return DF_OUTCOME_OK; /* nothing in flight past the checkpoint */
    if (g->grid_rows == f[0])
        g->skip = f[2] - done;
    else if (g->grid_rows == f[0] - f[1])
        g->skip = f[2] - f[1] - done;
    else
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "sheet_changed",
                              "sheet %s has %lld grid rows, but the append in flight when the "
                              "export stopped leaves it at %lld (landed) or %lld (not landed): "
                              "the sheet was changed meanwhile; rows %lld to %lld may be missing",
                              g->sheet, (long long)g->grid_rows, (long long)f[0],
                              (long long)(f[0] - f[1]), (long long)(f[2] - f[1] + 1),
                              (long long)f[2]);
    df_info("resume: the append in flight (export rows %lld to %lld) %s; skipping %lld rows",
            (long long)(f[2] - f[1] + 1), (long long)f[2],
            g->grid_rows == f[0] ? "landed" : "did not land", (long long)g->skip);
    return DF_OUTCOME_OK;
}

/* ---- rows -------------------------------------------------------------------- */

typedef df_outcome_kind_t (*send_fn)(gs_t *g, const df_chunk_t *c, size_t first, char **texts,
                                     size_t n, df_outcome_t *out);

/* Send rows g->pick[0..n) of c in requests of at most REQUEST_MAX bytes. */
static df_outcome_kind_t in_requests(gs_t *g, const df_chunk_t *c, size_t n, send_fn send,
                                     df_outcome_t *out)
{
    char **texts = calloc(n ? n : 1, sizeof(*texts));
    size_t first = 0, bytes = 0, i;

    if (!texts)
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    for (i = 0; i <= n && out->kind == DF_OUTCOME_OK; i++) {
        size_t len = i < n && (texts[i] = df_sheets_row_text(c, g->pick[i], g->types, g->names,
                                                             REQUEST_MAX - ROW_OVERHEAD, out))
                         ? strlen(texts[i]) + ROW_OVERHEAD
                         : 0;
        if (out->kind != DF_OUTCOME_OK)
            break;
        if (i > first && (i == n || bytes + len > REQUEST_MAX)) {
            send(g, c, first, texts + first, i - first, out);
            for (; first < i; first++) {
                free(texts[first]);
                texts[first] = NULL;
            }
            bytes = 0;
        }
        bytes += len;
    }
    for (i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    return out->kind;
}

/* Key text of row r of c (the key columns joined by 0x1F). false: no key. */
static bool row_key(gs_t *g, const df_chunk_t *c, size_t r, df_http_buf_t *key)
{
    bool any = false;

    key->len = 0;
    for (size_t k = 0; k < g->nkeys; k++) {
        json_t *v = NULL;
        df_sheets_cell_json(df_chunk_cell(c, r, g->key_idx[k]), g->types[g->key_idx[k]], &v, NULL);
        any = any || (v && !(json_is_string(v) && json_string_length(v) == 0));
        if ((k > 0 && df_http_buf_append(key, "\x1f", 1, NULL)) || !df_sheets_key_append(key, v))
            any = false;
        json_decref(v);
    }
    return any && key->data;
}

/* values.append (INSERT_ROWS) of texts. A lost answer is settled by the
 * grid: expected rows -> it landed; unchanged -> send it again. */
static df_outcome_kind_t send_append(gs_t *g, const df_chunk_t *c, size_t first, char **texts,
                                     size_t n, df_outcome_t *out)
{
    char range[DF_SHEETS_A1_MAX], path[DF_SHEETS_A1_MAX * 3 + 64], *body, last[DF_ERR_MSG_MAX];
    int64_t grid = g->grid_rows + (int64_t)n, row0 = 0, row1 = 0;
    json_t *reply;
    bool ambiguous = false;
    df_http_buf_t key;

    if (cells_check(g, grid, out) ||
        (g->mode == APPEND &&
         inflight_put(g, grid, (int64_t)n, c->first_row + (int64_t)g->pick[first + n - 1] + 1,
                      out)))
        return out->kind;
    if (!df_sheets_a1(g->sheet, 0, g->ncols - 1, 1, 1, range, sizeof(range)) ||
        df_sheets_values_path(range, ":append?valueInputOption=RAW&insertDataOption=INSERT_ROWS",
                              path, sizeof(path), out) != DF_OUTCOME_OK)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target", "bad range");
    if (!(body = df_sheets_values_body("", texts, n)))
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    for (int tries = 1;; tries++) {
        if (df_sheets_call(g->api, "POST", path, body, DF_SHEETS_APPEND, &reply, &ambiguous, out) ==
            DF_OUTCOME_OK)
            df_sheets_range_rows(str(json_object_get(reply, "updates"), "updatedRange")
                                     ? str(json_object_get(reply, "updates"), "updatedRange")
                                     : "",
                                 &row0, &row1);
        json_decref(reply);
        if (!ambiguous)
            break;
        snprintf(last, sizeof(last), "%s", out->error.message);
        df_warn("append of %zu rows to %s: %s; checking whether it landed", n, g->sheet, last);
        /* Give Google time to finish an append it may still be applying. */
        if (df_sheets_client_pause(g->api, tries, out) != DF_OUTCOME_OK ||
            sheet_info(g, false, out) != DF_OUTCOME_OK)
            break;
        if (g->grid_rows == grid) {
            out->kind = DF_OUTCOME_OK; /* it landed; where, only the keys can tell */
            break;
        }
        if (g->grid_rows != grid - (int64_t)n) {
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "sheet_changed",
                           "sheet %s changed while an append was in flight", g->sheet);
            break;
        }
        if (tries >= DF_SHEETS_TRIES) {
            df_outcome_set(out, DF_OUTCOME_RETRY, "unavailable", "%d appends failed: %s", tries,
                           last);
            break;
        }
    }
    free(body);
    if (out->kind != DF_OUTCOME_OK)
        return out->kind;
    g->grid_rows = grid;
    g->appended += (int64_t)n;
    if (g->mode != UPSERT)
        return DF_OUTCOME_OK;
    if (row0 <= 0) { /* landed after a lost answer: where, the next attempt reads */
        df_outcome_set(out, DF_OUTCOME_RETRY, "resync",
                       "an append landed without an answer; resuming from the sheet");
        return retry_in(out, 100);
    }
    df_http_buf_init(&key, 0);
    for (size_t j = 0; j < n; j++)
        if (row_key(g, c, g->pick[first + j], &key))
            df_hmap_put(g->keys, key.data, key.len, (void *)(intptr_t)(row0 + (int64_t)j));
    df_http_buf_free(&key);
    return DF_OUTCOME_OK;
}

/* replace: rows go to sheet row 2 + their index in the export. */
static df_outcome_kind_t send_replace(gs_t *g, const df_chunk_t *c, size_t first, char **texts,
                                      size_t n, df_outcome_t *out)
{
    return update_rows(g, 2 + c->first_row + (int64_t)g->pick[first], texts, n, out);
}

/* upsert: rows whose key is in the sheet, by runs of consecutive sheet rows
 * (one range each), in one values:batchUpdate: Google applies all its
 * ranges or none, and a resent one writes the same cells. */
static df_outcome_kind_t send_updates(gs_t *g, const df_chunk_t *c, size_t first, char **texts,
                                      size_t n, df_outcome_t *out)
{
    char range[DF_SHEETS_A1_MAX], extra[DF_SHEETS_A1_MAX * 2], *body = NULL;
    int64_t last_row = 0;
    df_http_buf_t b;
    json_t *reply = NULL, *quoted;
    size_t i, j;
    bool ok;

    (void)c;
    df_http_buf_init(&b, 2 * REQUEST_MAX);
    ok = df_http_buf_append(&b, BATCH_HEAD, strlen(BATCH_HEAD), NULL) == DF_OK;
    for (i = 0; ok && i < n; i = j) {
        for (j = i + 1; j < n && g->dest[first + j] == g->dest[first + j - 1] + 1; j++)
            ;
        last_row = g->dest[first + j - 1] > last_row ? g->dest[first + j - 1] : last_row;
        quoted = df_sheets_a1(g->sheet, 0, g->ncols - 1, g->dest[first + i], g->dest[first + j - 1],
                              range, sizeof(range))
                     ? json_string(range)
                     : NULL;
        body = quoted ? json_dumps(quoted, JSON_ENCODE_ANY) : NULL;
        json_decref(quoted);
        if (!body)
            break;
        snprintf(extra, sizeof(extra), "\"range\":%s,", body);
        free(body);
        body = df_sheets_values_body(extra, texts + i, j - i);
        ok = body && (i == 0 || df_http_buf_append(&b, ",", 1, NULL) == DF_OK) &&
             df_http_buf_append(&b, body, strlen(body), NULL) == DF_OK;
        free(body);
    }
    ok = ok && i >= n && df_http_buf_append(&b, "]}", 2, NULL) == DF_OK;
    if (!ok) {
        df_http_buf_free(&b);
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    }
    if (cells_check(g, last_row > g->grid_rows ? last_row : g->grid_rows, out) == DF_OUTCOME_OK &&
        df_sheets_call(g->api, "POST", "/values:batchUpdate", b.data, DF_SHEETS_WRITE, &reply, NULL,
                       out) == DF_OUTCOME_OK) {
        g->updated += (int64_t)n;
        g->grid_cols = g->grid_cols > (int64_t)g->ncols ? g->grid_cols : (int64_t)g->ncols;
    }
    df_http_buf_free(&b);
    json_decref(reply);
    return out->kind;
}

/* upsert, at begin: the sheet row of every key (pages of values.get). */
static df_outcome_kind_t read_keys(gs_t *g, df_outcome_t *out)
{
    char range[DF_SHEETS_A1_MAX], path[DF_SHEETS_A1_MAX * 3 + 64];
    size_t k0 = g->ncols, k1 = 0, i;
    df_http_buf_t key;
    json_t *reply, *row;

    for (size_t k = 0; k < g->nkeys; k++) {
        k0 = g->key_idx[k] < k0 ? g->key_idx[k] : k0;
        k1 = g->key_idx[k] > k1 ? g->key_idx[k] : k1;
    }
    df_http_buf_init(&key, 0);
    for (int64_t r = 2; r <= g->grid_rows && out->kind == DF_OUTCOME_OK; r += KEY_PAGE_ROWS) {
        int64_t end = r + KEY_PAGE_ROWS - 1 < g->grid_rows ? r + KEY_PAGE_ROWS - 1 : g->grid_rows;
        if (!df_sheets_a1(g->sheet, k0, k1, r, end, range, sizeof(range)) ||
            df_sheets_values_path(range, "?valueRenderOption=UNFORMATTED_VALUE", path, sizeof(path),
                                  out) ||
            df_sheets_call(g->api, "GET", path, NULL, DF_SHEETS_READ, &reply, NULL, out) !=
                DF_OUTCOME_OK)
            break;
        json_array_foreach(json_object_get(reply, "values"), i, row)
        {
            bool any = false, ok = true;
            key.len = 0;
            for (size_t k = 0; k < g->nkeys; k++) {
                json_t *v = json_array_get(row, g->key_idx[k] - k0);
                any = any || (v && !(json_is_string(v) && json_string_length(v) == 0));
                ok = ok && (k == 0 || df_http_buf_append(&key, "\x1f", 1, NULL) == DF_OK) &&
                     df_sheets_key_append(&key, v);
            }
            if (!ok ||
                (any && !df_hmap_get(g->keys, key.data, key.len) &&
                 !df_hmap_put(g->keys, key.data, key.len, (void *)(intptr_t)(r + (int64_t)i)))) {
                df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory reading keys");
                break;
            }
        }
        json_decref(reply);
    }
    df_http_buf_free(&key);
    df_info("upsert: %zu keys in sheet %s", df_hmap_count(g->keys), g->sheet);
    return out->kind;
}

typedef struct update {
    int64_t dest; /* sheet row */
    size_t row;   /* chunk row */
} update_t;

/* By sheet row (runs of consecutive rows make fewer ranges), then by chunk
 * row (the last of a key repeated in the chunk is written last). */
static int by_dest(const void *a, const void *b)
{
    const update_t *x = a, *y = b;
    if (x->dest != y->dest)
        return x->dest < y->dest ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* upsert a chunk: rows with a known key are updated in place, the others
 * appended (the last of a key repeated in the chunk wins). */
static df_outcome_kind_t write_upsert(gs_t *g, const df_chunk_t *c, size_t from, df_outcome_t *out)
{
    size_t nupd = 0, napp = 0, *app = calloc(c->nrows, sizeof(*app));
    update_t *upd = calloc(c->nrows, sizeof(*upd));
    df_http_buf_t key;

    df_http_buf_init(&key, 0);
    for (size_t r = from; app && upd && r < c->nrows && out->kind == DF_OUTCOME_OK; r++) {
        intptr_t at;
        if (!row_key(g, c, r, &key)) {
            df_outcome_set(out, DF_OUTCOME_PERMANENT, "missing_key",
                           "row %lld: the key columns are empty",
                           (long long)(c->first_row + (int64_t)r + 1));
            break;
        }
        at = (intptr_t)df_hmap_get(g->keys, key.data, key.len);
        if (at > 0) {
            upd[nupd].dest = at;
            upd[nupd++].row = r;
        } else if (at < 0) {
            app[-at - 1] = r;
        } else {
            app[napp++] = r;
            if (!df_hmap_put(g->keys, key.data, key.len, (void *)(-(intptr_t)napp)))
                df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
        }
    }
    df_http_buf_free(&key);
    if (!app || !upd) {
        free(app);
        free(upd);
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    }
    qsort(upd, nupd, sizeof(*upd), by_dest);
    for (size_t i = 0; i < nupd; i++) {
        g->pick[i] = upd[i].row;
        g->dest[i] = upd[i].dest;
    }
    if (out->kind == DF_OUTCOME_OK && nupd > 0)
        in_requests(g, c, nupd, send_updates, out);
    if (out->kind == DF_OUTCOME_OK && napp > 0) {
        memcpy(g->pick, app, napp * sizeof(*app));
        in_requests(g, c, napp, send_append, out);
    }
    free(app);
    free(upd);
    return out->kind;
}

/* ---- the export operations -------------------------------------------------- */

/* The export's columns (named by params.mapping), and the key columns. */
static df_outcome_kind_t columns(gs_t *g, const df_export_ctx_t *x, df_outcome_t *out)
{
    const json_t *keys = json_object_get(x->target, "key_columns"), *k;
    size_t i, j;

    g->ncols = x->ncols;
    g->names = json_array();
    g->types = calloc(x->ncols + 1, sizeof(*g->types));
    g->key_idx = calloc(json_array_size(keys) + 1, sizeof(*g->key_idx));
    if (!g->names || !g->types || !g->key_idx || !(g->keys = df_hmap_new()))
        return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
    for (i = 0; i < x->ncols; i++) {
        const char *to = str(x->mapping, x->columns[i].name);
        json_array_append_new(g->names, json_string(to ? to : x->columns[i].name));
        g->types[i] = x->columns[i].type;
    }
    json_array_foreach(keys, j, k)
    {
        for (i = 0; i < x->ncols; i++)
            if (json_equal(k, json_array_get(g->names, i)) ||
                strcmp(json_string_value(k), x->columns[i].name) == 0)
                break;
        if (i == x->ncols)
            return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target",
                                  "target.key_columns: %s is not a column of the export",
                                  json_string_value(k));
        g->key_idx[g->nkeys++] = i;
    }
    if (g->mode == UPSERT && g->nkeys == 0)
        return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target",
                              "an upsert needs target.key_columns");
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t gs_begin(df_export_ctx_t *x, void **state, size_t *max_chunk_rows,
                                  df_outcome_t *out)
{
    gs_t *g = gs_new(x->task, x->target, out);
    char range[DF_SHEETS_A1_MAX], path[DF_SHEETS_A1_MAX * 3 + 16];
    json_t *reply = NULL;

    if (!g)
        return out->kind;
    g->mode = strcmp(x->mode, "replace") == 0  ? REPLACE
              : strcmp(x->mode, "upsert") == 0 ? UPSERT
                                               : APPEND;
    if (!g->id || !g->sheet)
        df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_target",
                       "params.target.%s is required (the spreadsheet may also come from the "
                       "connector's config.spreadsheet_id)",
                       g->id ? "sheet" : "spreadsheet_id");
    else if (columns(g, x, out) == DF_OUTCOME_OK && g->ncols > 0 &&
             sheet_info(g, true, out) == DF_OUTCOME_OK) {
        df_info("google sheets export (%s) to spreadsheet %s sheet %s: grid %lld x %lld", x->mode,
                g->id, g->sheet, (long long)g->grid_rows, (long long)g->grid_cols);
        if (g->mode == REPLACE && x->resume_rows == 0) {
            df_sheets_a1(g->sheet, 0, 0, 0, 0, range, sizeof(range));
            if (df_sheets_values_path(range, ":clear", path, sizeof(path), out) == DF_OUTCOME_OK &&
                df_sheets_call(g->api, "POST", path, "{}", DF_SHEETS_WRITE, &reply, NULL, out) ==
                    DF_OUTCOME_OK)
                header(g, true, out);
            json_decref(reply);
        } else if (g->mode != REPLACE && header(g, false, out) == DF_OUTCOME_OK) {
            if (g->mode == APPEND)
                resume_append(g, x->resume_rows, out);
            else
                read_keys(g, out);
        }
    }
    if (out->kind != DF_OUTCOME_OK) {
        gs_free(g);
        return out->kind;
    }
    *state = g;
    *max_chunk_rows = CHUNK_ROWS_MAX;
    return DF_OUTCOME_OK;
}

static df_outcome_kind_t gs_write(void *state, const df_chunk_t *c, df_outcome_t *out)
{
    gs_t *g = state;
    size_t from = 0, n;

    if (g->ncols == 0 || c->nrows == 0)
        return DF_OUTCOME_OK;
    if (g->skip > 0) { /* already in the sheet: landed before the last attempt stopped */
        from = (int64_t)c->nrows < g->skip ? c->nrows : (size_t)g->skip;
        g->skip -= (int64_t)from;
    }
    if (c->nrows > g->cap) {
        size_t *pick = realloc(g->pick, c->nrows * sizeof(*pick));
        int64_t *dest = pick ? realloc(g->dest, c->nrows * sizeof(*dest)) : NULL;
        g->pick = pick ? pick : g->pick;
        g->dest = dest ? dest : g->dest;
        if (!dest)
            return df_outcome_set(out, DF_OUTCOME_RETRY, "nomem", "out of memory");
        g->cap = c->nrows;
    }
    if (g->mode == UPSERT)
        return write_upsert(g, c, from, out);
    for (n = 0; from + n < c->nrows; n++)
        g->pick[n] = from + n;
    return n ? in_requests(g, c, n, g->mode == APPEND ? send_append : send_replace, out)
             : DF_OUTCOME_OK;
}

static df_outcome_kind_t gs_end(void *state, df_outcome_t *out)
{
    gs_t *g = state;

    out->result =
        json_pack("{s:s, s:s, s:I, s:I, s:I}", "spreadsheet_id", g->id, "sheet", g->sheet,
                  "requests", (json_int_t)df_sheets_client_requests(g->api), "rows_appended",
                  (json_int_t)g->appended, "rows_updated", (json_int_t)g->updated);
    gs_free(g);
    return DF_OUTCOME_OK;
}

static void gs_abort(void *state)
{
    gs_free(state);
}

/* probe: a token, and the spreadsheet when one is configured. */
static df_outcome_kind_t gs_probe(df_task_ctx_t *ctx, df_outcome_t *out)
{
    gs_t *g = gs_new(ctx, json_object_get(ctx->params, "target"), out);
    json_t *reply = NULL, *titles = json_array(), *s;
    size_t i;

    if (!g) {
        json_decref(titles);
        return out->kind;
    }
    if (!g->id && df_sheets_client_token(g->api, out) == DF_OUTCOME_OK)
        out->result = json_pack("{s:b}", "token", 1);
    else if (g->id && df_sheets_call(g->api, "GET", "", NULL, DF_SHEETS_READ, &reply, NULL, out) ==
                          DF_OUTCOME_OK) {
        json_array_foreach(json_object_get(reply, "sheets"), i, s)
            json_array_append(titles, json_object_get(json_object_get(s, "properties"), "title"));
        out->result = json_pack("{s:s, s:O?, s:O}", "spreadsheet_id", g->id, "title",
                                json_object_get(json_object_get(reply, "properties"), "title"),
                                "sheets", titles);
    } else if (g->id) {
        df_error_prefix(&out->error, "spreadsheet %s", g->id);
    }
    json_decref(reply);
    json_decref(titles);
    gs_free(g);
    return out->kind;
}

static df_outcome_kind_t gs_export_rows(df_task_ctx_t *ctx, df_outcome_t *out)
{
    (void)ctx;
    return df_outcome_set(out, DF_OUTCOME_PERMANENT, "invalid_params",
                          "a google_sheets export needs params.source (where its rows come from)");
}

static const df_export_ops_t sheets_export = {
    .begin = gs_begin,
    .write = gs_write,
    .end = gs_end,
    .abort = gs_abort,
};

const df_connector_ops_t df_connector_google_sheets = {
    .kind = "google_sheets",
    .export_ops = &sheets_export,
    .probe = gs_probe,
    .export_rows = gs_export_rows,
};
