/* source_chunk_test: chunks and the source object: the arena never moves
 * strings already handed out; a 10,000-row CSV read in chunks of 333 gives
 * every row once, in order, with first_row right and each chunk's memory
 * bounded; skip resumes where it should; a field over 1 MiB, a stop
 * request and bad settings of every kind fail the way source.h says
 * (settings are checked before any file, database or URL is touched). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_test.h"
#include "sources/source.h"

static char tmp_dir[256];

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(text, 1, len, f) == len);
    REQUIRE(fclose(f) == 0);
}

/* ---- the arena ---------------------------------------------------------------- */

static void test_arena_keeps_strings(void)
{
    df_chunk_t chunk;
    const char *ptrs[5000];
    char text[64];

    df_chunk_init(&chunk);
    df_chunk_reset(&chunk, 2, 0);
    /* ~5000 rows with strings of growing size: several arena blocks. */
    for (int r = 0; r < 5000; r++) {
        df_cell_t *row = df_chunk_add_row(&chunk);
        size_t len = (size_t)snprintf(text, sizeof(text), "value-%d-%0*d", r, r % 40, 0);
        REQUIRE(row != NULL);
        REQUIRE(df_chunk_set_str(&chunk, &row[1], text, len));
        row[0].null = false;
        row[0].v.i = r;
        ptrs[r] = row[1].v.s.ptr;
    }
    CHECK_INT(chunk.nrows, 5000);
    for (int r = 0; r < 5000; r++) {
        const df_cell_t *c = df_chunk_cell(&chunk, (size_t)r, 1);
        int len = snprintf(text, sizeof(text), "value-%d-%0*d", r, r % 40, 0);
        CHECK(c->v.s.ptr == ptrs[r]); /* never moved */
        CHECK(c->v.s.len == (size_t)len && memcmp(ptrs[r], text, (size_t)len) == 0);
        CHECK(ptrs[r][len] == '\0');
        CHECK(df_chunk_cell(&chunk, (size_t)r, 0)->v.i == r);
    }
    /* A string larger than any block gets its own. */
    {
        size_t big = 3 * 1024 * 1024;
        char *s = malloc(big);
        df_cell_t *row = df_chunk_add_row(&chunk);
        REQUIRE(s && row);
        memset(s, 'x', big);
        CHECK(df_chunk_set_str(&chunk, &row[0], s, big));
        CHECK(row[0].v.s.len == big && row[0].v.s.ptr[big - 1] == 'x');
        CHECK(memcmp(ptrs[0], "value-0-", 8) == 0);
        free(s);
    }
    CHECK(df_chunk_bytes(&chunk) > 3 * 1024 * 1024);
    /* Reset keeps one block, drops the rest; a new width is fine. */
    df_chunk_reset(&chunk, 3, 42);
    CHECK_INT(chunk.nrows, 0);
    CHECK_INT(chunk.first_row, 42);
    CHECK_INT(chunk.ncols, 3);
    {
        df_cell_t *row = df_chunk_add_row(&chunk);
        REQUIRE(row != NULL);
        CHECK(row[0].null && row[1].null && row[2].null);
        CHECK(df_chunk_set_str(&chunk, &row[2], "", 0));
        CHECK(!row[2].null && row[2].v.s.len == 0);
    }
    df_chunk_free(&chunk);
    CHECK(chunk.cells == NULL && chunk.arena == NULL && chunk.nrows == 0);
    df_chunk_free(&chunk); /* twice is fine */
    /* Zero columns: no rows. */
    df_chunk_reset(&chunk, 0, 0);
    CHECK(df_chunk_add_row(&chunk) == NULL);
    df_chunk_free(&chunk);
}

/* ---- 10,000 rows in chunks of 333 --------------------------------------------------- */

#define BIG_ROWS 10000

static char big_csv[512];

static void make_big_csv(void)
{
    FILE *f;
    snprintf(big_csv, sizeof(big_csv), "%s/big.csv", tmp_dir);
    f = fopen(big_csv, "w");
    REQUIRE(f != NULL);
    fprintf(f, "id,name,amount,day,note\n");
    for (int i = 1; i <= BIG_ROWS; i++)
        fprintf(f, "%d,name %d,%d.25,2024-01-%02d,\"line %d\nwith, comma\"\n", i, i, i, i % 28 + 1,
                i);
    REQUIRE(fclose(f) == 0);
}

static df_source_t *open_big(void)
{
    json_t *settings = json_pack("{s:s, s:s}", "kind", "csv", "path", big_csv);
    df_error_t err;
    df_source_t *src;
    df_error_init(&err);
    src = df_source_open(settings, NULL, &err);
    CHECK_MSG(src != NULL, "%s", err.message);
    json_decref(settings);
    return src;
}

static void check_row(const df_chunk_t *chunk, size_t r, int id)
{
    char text[64];
    const df_cell_t *c = df_chunk_cell(chunk, r, 0);
    int len;

    CHECK_MSG(!c->null && c->v.i == id, "row %zu: id %lld, expected %d", r, (long long)c->v.i, id);
    c = df_chunk_cell(chunk, r, 1);
    len = snprintf(text, sizeof(text), "name %d", id);
    CHECK(c->v.s.len == (size_t)len && memcmp(c->v.s.ptr, text, (size_t)len) == 0);
    CHECK(df_chunk_cell(chunk, r, 2)->v.f == id + 0.25);
    c = df_chunk_cell(chunk, r, 4);
    len = snprintf(text, sizeof(text), "line %d\nwith, comma", id);
    CHECK(c->v.s.len == (size_t)len && memcmp(c->v.s.ptr, text, (size_t)len) == 0);
}

static void test_chunks_of_333(void)
{
    df_source_t *src = open_big();
    df_chunk_t chunk;
    df_error_t err;
    const df_column_t *cols;
    size_t ncols, chunks = 0, max_bytes = 0;
    int next_id = 1;

    REQUIRE(src != NULL);
    cols = df_source_columns(src, &ncols);
    CHECK_INT(ncols, 5);
    CHECK(cols[0].type == DF_COL_INT && cols[1].type == DF_COL_STRING &&
          cols[2].type == DF_COL_FLOAT && cols[3].type == DF_COL_DATE &&
          cols[4].type == DF_COL_STRING);
    df_chunk_init(&chunk);
    df_error_init(&err);
    for (;;) {
        REQUIRE(df_source_next(src, &chunk, 333, &err) == DF_OK);
        if (chunk.nrows == 0)
            break;
        chunks++;
        CHECK_INT(chunk.first_row, next_id - 1);
        CHECK(chunk.nrows == 333 || (chunk.nrows == BIG_ROWS % 333 && next_id + 10 > BIG_ROWS));
        for (size_t r = 0; r < chunk.nrows; r++)
            check_row(&chunk, r, next_id++);
        if (df_chunk_bytes(&chunk) > max_bytes)
            max_bytes = df_chunk_bytes(&chunk);
    }
    CHECK_INT(next_id - 1, BIG_ROWS);
    CHECK_INT(chunks, BIG_ROWS / 333 + 1);
    /* The end stays the end. */
    CHECK(df_source_next(src, &chunk, 333, &err) == DF_OK && chunk.nrows == 0);
    /* 333 rows of 5 cells and ~40 bytes of text each: well under 256 KiB. */
    printf("chunk of 333 rows: at most %zu bytes\n", max_bytes);
    CHECK_MSG(max_bytes < 256 * 1024, "%zu bytes", max_bytes);
    df_chunk_free(&chunk);
    df_source_close(src);
}

static void test_skip(void)
{
    df_source_t *src = open_big();
    df_chunk_t chunk;
    df_error_t err;

    REQUIRE(src != NULL);
    df_chunk_init(&chunk);
    df_error_init(&err);
    CHECK(df_source_skip(src, 4321, &err) == DF_OK);
    REQUIRE(df_source_next(src, &chunk, 333, &err) == DF_OK);
    CHECK_INT(chunk.first_row, 4321);
    CHECK_INT(chunk.nrows, 333);
    check_row(&chunk, 0, 4322);
    CHECK(df_source_skip(src, BIG_ROWS, &err) == DF_ERR_INVALID);
    CHECK(strstr(err.message, "cannot skip") != NULL);
    df_chunk_free(&chunk);
    df_source_close(src);
}

/* ---- limits and stops ------------------------------------------------------------- */

static void test_field_too_large(void)
{
    char path[300];
    size_t big = 1024 * 1024 + 10;
    char *text = malloc(big + 32);
    json_t *settings;
    df_source_t *src;
    df_chunk_t chunk;
    df_error_t err;

    REQUIRE(text != NULL);
    snprintf(path, sizeof(path), "%s/wide.csv", tmp_dir);
    memcpy(text, "a,b\n1,", 6);
    memset(text + 6, 'y', big);
    memcpy(text + 6 + big, "\n", 1);
    write_file(path, text, big + 7);
    free(text);
    settings = json_pack("{s:s, s:s}", "kind", "csv", "path", path);
    df_error_init(&err);
    df_chunk_init(&chunk);
    src = df_source_open(settings, NULL, &err);
    REQUIRE(src != NULL);
    CHECK(df_source_next(src, &chunk, 10, &err) == DF_ERR_INVALID);
    CHECK_STR(err.field, "row 1, column b");
    CHECK(strstr(err.message, "expected a field of at most 1 MiB") != NULL);
    df_source_close(src);
    df_chunk_free(&chunk);
    json_decref(settings);
}

static int stop_calls;
static bool stop_after_two(void *ctx)
{
    (void)ctx;
    return ++stop_calls > 2;
}

static void test_should_stop(void)
{
    json_t *settings = json_pack("{s:s, s:s}", "kind", "csv", "path", big_csv);
    df_source_env_t env = { 0 };
    df_source_t *src;
    df_chunk_t chunk;
    df_error_t err;

    env.should_stop = stop_after_two;
    df_error_init(&err);
    df_chunk_init(&chunk);
    src = df_source_open(settings, &env, &err);
    REQUIRE(src != NULL);
    CHECK(df_source_next(src, &chunk, 100, &err) == DF_OK && chunk.nrows == 100);
    CHECK(df_source_next(src, &chunk, 100, &err) == DF_OK && chunk.nrows == 100);
    CHECK(df_source_next(src, &chunk, 100, &err) == DF_ERR_CANCELLED);
    CHECK_INT(chunk.nrows, 0);
    df_source_close(src);
    df_chunk_free(&chunk);
    json_decref(settings);
    df_source_close(NULL);
}

/* ---- settings ------------------------------------------------------------------------ */

static void expect_open_error(const char *json, df_code_t code, const char *field,
                              const char *message_part)
{
    json_error_t jerr;
    json_t *settings = json_loads(json, JSON_DECODE_ANY, &jerr);
    df_source_env_t env = { 0 };
    df_error_t err;
    df_source_t *src;

    REQUIRE(settings != NULL);
    df_error_init(&err);
    src = df_source_open(settings, &env, &err);
    CHECK_MSG(src == NULL, "%s opened", json);
    df_source_close(src);
    CHECK_MSG(err.code == code, "%s: code %s, want %s (%s)", json, df_code_name(err.code),
              df_code_name(code), err.message);
    CHECK_MSG(strcmp(err.field, field) == 0, "%s: field \"%s\", want \"%s\"", json, err.field,
              field);
    CHECK_MSG(strstr(err.message, message_part) != NULL, "%s: message \"%s\" lacks \"%s\"", json,
              err.message, message_part);
    CHECK(!err.retryable);
    json_decref(settings);
}

static void test_settings_errors(void)
{
    expect_open_error("[1]", DF_ERR_INVALID, "/params/source", "expected an object");
    expect_open_error("{}", DF_ERR_INVALID, "/params/source/kind", "required");
    expect_open_error("{\"kind\":\"parquet\"}", DF_ERR_INVALID, "/params/source/kind",
                      "expected one of postgres, csv, ndjson, http_json");
    expect_open_error("{\"kind\":\"mysql\",\"query\":\"select 1\"}", DF_ERR_UNSUPPORTED,
                      "/params/source/kind", "not supported");
    expect_open_error("{\"kind\":\"postgres\",\"query\":\"select 1\",\"connector\":\"wh\"}",
                      DF_ERR_UNSUPPORTED, "/params/source/connector", "not supported yet");
    /* csv */
    expect_open_error("{\"kind\":\"csv\"}", DF_ERR_INVALID, "/params/source/path", "required");
    expect_open_error("{\"kind\":\"csv\",\"path\":\"x\",\"header\":\"yes\"}", DF_ERR_INVALID,
                      "/params/source/header", "expected true or false");
    expect_open_error("{\"kind\":\"csv\",\"path\":\"x\",\"quote\":\",\"}", DF_ERR_INVALID,
                      "/params/source/quote", "must differ from the delimiter");
    expect_open_error("{\"kind\":\"csv\",\"path\":\"x\",\"columns\":[{\"name\":\"a\",\"type\":"
                      "\"money\"}]}",
                      DF_ERR_INVALID, "/params/source/columns/0/type", "expected one of string");
    expect_open_error("{\"kind\":\"csv\",\"path\":\"x\",\"columns\":[\"a\",\"a\"]}", DF_ERR_INVALID,
                      "/params/source/columns/1", "duplicate column name");
    expect_open_error("{\"kind\":\"csv\",\"path\":\"x\",\"null_values\":[1]}", DF_ERR_INVALID,
                      "/params/source/null_values/0", "expected a string");
    expect_open_error("{\"kind\":\"csv\",\"path\":\"x\",\"sample_rows\":0}", DF_ERR_INVALID,
                      "/params/source/sample_rows", "expected an integer from 1 to 100000");
    /* ndjson */
    expect_open_error("{\"kind\":\"ndjson\",\"path\":\"x\",\"flatten_separator\":\"\"}",
                      DF_ERR_INVALID, "/params/source/flatten_separator", "1 to 8 characters");
    expect_open_error("{\"kind\":\"ndjson\",\"path\":\"x\",\"unknown_keys\":\"drop\"}",
                      DF_ERR_INVALID, "/params/source/unknown_keys", "expected one of");
    /* postgres: before connecting */
    expect_open_error("{\"kind\":\"postgres\"}", DF_ERR_INVALID, "/params/source/query",
                      "required");
    expect_open_error("{\"kind\":\"postgres\",\"query\":\"select 1\"}", DF_ERR_INVALID,
                      "/params/source/url", "no database");
    expect_open_error("{\"kind\":\"postgres\",\"query\":\"select $1\",\"url\":\"postgresql://x\","
                      "\"args\":[{\"a\":1}]}",
                      DF_ERR_INVALID, "/params/source/args/0", "expected a string, number");
    expect_open_error("{\"kind\":\"postgres\",\"query\":\"select 1\",\"path\":\"x\"}",
                      DF_ERR_INVALID, "/params/source/path", "unknown setting for kind postgres");
    /* http_json: before any request */
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"ftp://x\"}", DF_ERR_INVALID,
                      "/params/source/url", "http:// or https://");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"headers\":"
                      "{\"Authorization\":\"Bearer abc\"}}",
                      DF_ERR_INVALID, "/params/source/headers/Authorization",
                      "credentials never travel in tasks");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"auth\":{\"type\":"
                      "\"bearer\",\"token_env\":\"DF_SOURCE_TEST_UNSET_TOKEN\"}}",
                      DF_ERR_INVALID, "/params/source/auth/token_env",
                      "DF_SOURCE_TEST_UNSET_TOKEN is not set on this worker");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"auth\":{\"type\":"
                      "\"basic\",\"username\":\"u\",\"password\":\"p\"}}",
                      DF_ERR_INVALID, "/params/source/auth/password", "unknown setting");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"pagination\":{\"type\":"
                      "\"pages\"}}",
                      DF_ERR_INVALID, "/params/source/pagination/type", "expected one of");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"pagination\":{\"type\":"
                      "\"cursor\"}}",
                      DF_ERR_INVALID, "/params/source/pagination/cursor_path", "required");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"date_range\":{\"start\":"
                      "\"2024-02-01\",\"end\":\"2024-01-01\"}}",
                      DF_ERR_INVALID, "/params/source/date_range/end", "not before start");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"enrich\":{\"url\":"
                      "\"/details/{id}\"}}",
                      DF_ERR_INVALID, "/params/source/enrich/url", "URL template");
    expect_open_error("{\"kind\":\"http_json\",\"url\":\"http://x\",\"body\":{\"q\":1}}",
                      DF_ERR_INVALID, "/params/source/body", "needs method POST");
}

int main(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/df-source-chunk-XXXXXX");
    REQUIRE(mkdtemp(tmp_dir) != NULL);
    make_big_csv();
    RUN(test_arena_keeps_strings);
    RUN(test_chunks_of_333);
    RUN(test_skip);
    RUN(test_field_too_large);
    RUN(test_should_stop);
    RUN(test_settings_errors);
    {
        char path[300];
        snprintf(path, sizeof(path), "%s/big.csv", tmp_dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/wide.csv", tmp_dir);
        unlink(path);
        rmdir(tmp_dir);
    }
    return df_test_done();
}
