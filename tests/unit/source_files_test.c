/* source_files_test: the data-driven suite of the file sources (csv,
 * ndjson). Each folder of tests/unit/data/sources/ (but those starting with
 * "_") is a case: settings.json (params.source; "path" defaults to the
 * folder's input.* file, a relative path is taken from the folder),
 * the input file, and expected.json: either {"columns": [{"name", "type"}],
 * "rows": [[...], ...]} (cells as JSON: integers, numbers, booleans,
 * strings for string/date/datetime/json, null) or {"error": {"code",
 * "field", "message"}} (message null: not compared). Every case is read
 * twice, one row per chunk and 1000 rows per chunk, and must give the same
 * answer both ways. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_test.h"
#include "sources/source.h"

static char data_dir[900];

/* The case folder's input.* file name, or "" when there is none. */
static void find_input(const char *dir, char *out, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    out[0] = '\0';
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "input.", 6) == 0) {
            snprintf(out, len, "%.1000s/%.200s", dir, e->d_name);
            break;
        }
    }
    closedir(d);
}

static json_t *cell_json(const df_column_t *col, const df_cell_t *cell)
{
    if (cell->null)
        return json_null();
    switch (col->type) {
    case DF_COL_INT: return json_integer(cell->v.i);
    case DF_COL_FLOAT: return json_real(cell->v.f);
    case DF_COL_BOOL: return json_boolean(cell->v.b);
    default: return json_stringn(cell->v.s.ptr, cell->v.s.len);
    }
}

static bool cells_equal(const json_t *got, const json_t *want)
{
    if (json_is_real(got) && json_is_number(want)) {
        double a = json_real_value(got), b = json_number_value(want);
        return fabs(a - b) <= 1e-12 * (fabs(a) + fabs(b)) + 1e-300;
    }
    return json_equal(got, want);
}

/* Read the whole source in chunks of chunk_rows: columns and rows as the
 * expected.json shape, or the error. */
static json_t *read_all(const json_t *settings, size_t chunk_rows, df_error_t *err,
                        const char *name)
{
    df_source_env_t env = { 0 };
    df_source_t *src = df_source_open(settings, &env, err);
    json_t *out, *cols, *rows;
    df_chunk_t chunk;
    const df_column_t *columns;
    size_t ncols;
    int64_t expect_first = 0;

    if (!src)
        return NULL;
    columns = df_source_columns(src, &ncols);
    cols = json_array();
    rows = json_array();
    for (size_t c = 0; c < ncols; c++)
        json_array_append_new(cols, json_pack("{s:s, s:s}", "name", columns[c].name, "type",
                                              df_col_type_name(columns[c].type)));
    out = json_pack("{s:o, s:o}", "columns", cols, "rows", rows);
    df_chunk_init(&chunk);
    for (;;) {
        df_code_t rc = df_source_next(src, &chunk, chunk_rows, err);
        if (rc != DF_OK) {
            df_error_t again;
            df_error_init(&again);
            /* An error sticks: the next call says the same. */
            CHECK_MSG(df_source_next(src, &chunk, chunk_rows, &again) == rc &&
                          strcmp(again.message, err->message) == 0,
                      "%s: error not repeated", name);
            json_decref(out);
            out = NULL;
            break;
        }
        CHECK_MSG(chunk.first_row == expect_first, "%s: first_row %lld, expected %lld", name,
                  (long long)chunk.first_row, (long long)expect_first);
        CHECK_MSG(chunk.nrows <= chunk_rows, "%s: %zu rows in a chunk of %zu", name, chunk.nrows,
                  chunk_rows);
        if (chunk.nrows == 0)
            break;
        expect_first += (int64_t)chunk.nrows;
        for (size_t r = 0; r < chunk.nrows; r++) {
            json_t *row = json_array();
            for (size_t c = 0; c < ncols; c++)
                json_array_append_new(row, cell_json(&columns[c], df_chunk_cell(&chunk, r, c)));
            json_array_append_new(rows, row);
        }
    }
    df_chunk_free(&chunk);
    df_source_close(src);
    return out;
}

static void compare_rows(const char *name, size_t chunk_rows, const json_t *got, const json_t *want)
{
    const json_t *gc = json_object_get(got, "columns"), *wc = json_object_get(want, "columns");
    const json_t *gr = json_object_get(got, "rows"), *wr = json_object_get(want, "rows");
    char *g, *w;

    if (!json_equal(gc, wc)) {
        g = json_dumps(gc, JSON_COMPACT);
        w = json_dumps(wc, JSON_COMPACT);
        CHECK_MSG(false, "%s: columns\n  got  %s\n  want %s", name, g, w);
        free(g);
        free(w);
        return;
    }
    CHECK_MSG(json_array_size(gr) == json_array_size(wr), "%s (chunks of %zu): %zu rows, want %zu",
              name, chunk_rows, json_array_size(gr), json_array_size(wr));
    for (size_t r = 0; r < json_array_size(gr) && r < json_array_size(wr); r++) {
        const json_t *grow = json_array_get(gr, r), *wrow = json_array_get(wr, r);
        bool same = json_array_size(grow) == json_array_size(wrow);
        for (size_t c = 0; same && c < json_array_size(grow); c++)
            same = cells_equal(json_array_get(grow, c), json_array_get(wrow, c));
        if (!same) {
            g = json_dumps(grow, JSON_COMPACT | JSON_ENCODE_ANY);
            w = json_dumps(wrow, JSON_COMPACT | JSON_ENCODE_ANY);
            CHECK_MSG(false, "%s (chunks of %zu): row %zu\n  got  %s\n  want %s", name, chunk_rows,
                      r + 1, g, w);
            free(g);
            free(w);
        }
    }
}

static void compare_error(const char *name, const json_t *got, const df_error_t *err,
                          const json_t *want)
{
    const char *code = json_string_value(json_object_get(want, "code"));
    const char *field = json_string_value(json_object_get(want, "field"));
    const json_t *message = json_object_get(want, "message");

    if (got) {
        CHECK_MSG(false, "%s: read without error, expected %s", name,
                  json_string_value(message) ? json_string_value(message) : code);
        return;
    }
    CHECK_MSG(code && strcmp(df_code_name(err->code), code) == 0, "%s: code %s, want %s", name,
              df_code_name(err->code), code ? code : "?");
    CHECK_MSG(field && strcmp(err->field, field) == 0, "%s: field\n  got  \"%s\"\n  want \"%s\"",
              name, err->field, field ? field : "?");
    if (json_is_string(message))
        CHECK_MSG(strcmp(err->message, json_string_value(message)) == 0,
                  "%s: message\n  got  %s\n  want %s", name, err->message,
                  json_string_value(message));
}

static void run_case(const char *name)
{
    char dir[1200], path[1400], input[1600];
    json_error_t jerr;
    json_t *settings, *expected;
    static const size_t chunk_sizes[] = { 1, 1000 };

    snprintf(dir, sizeof(dir), "%s/%s", data_dir, name);
    snprintf(path, sizeof(path), "%s/settings.json", dir);
    settings = json_load_file(path, 0, &jerr);
    REQUIRE(settings != NULL);
    snprintf(path, sizeof(path), "%s/expected.json", dir);
    expected = json_load_file(path, 0, &jerr);
    REQUIRE(expected != NULL);
    if (!json_object_get(settings, "path")) {
        find_input(dir, input, sizeof(input));
        json_object_set_new(settings, "path", json_string(input));
    } else {
        snprintf(input, sizeof(input), "%s/%.300s", dir,
                 json_string_value(json_object_get(settings, "path")));
        json_object_set_new(settings, "path", json_string(input));
    }
    for (size_t i = 0; i < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); i++) {
        df_error_t err;
        json_t *got;
        df_error_init(&err);
        got = read_all(settings, chunk_sizes[i], &err, name);
        if (json_object_get(expected, "error"))
            compare_error(name, got, &err, json_object_get(expected, "error"));
        else if (!got)
            CHECK_MSG(false, "%s (chunks of %zu): %s [%s]", name, chunk_sizes[i], err.message,
                      err.field);
        else
            compare_rows(name, chunk_sizes[i], got, expected);
        json_decref(got);
    }
    json_decref(settings);
    json_decref(expected);
}

int main(void)
{
    const char *root = getenv("DF_SOURCE_DIR");
    struct dirent **names;
    int n;

    snprintf(data_dir, sizeof(data_dir), "%s/tests/unit/data/sources", root ? root : ".");
    n = scandir(data_dir, &names, NULL, alphasort);
    REQUIRE(n > 0);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.' && name[0] != '_') {
            int before = df_test_failures;
            run_case(name);
            if (df_test_failures == before) {
                df_test_cases_passed++;
            } else {
                df_test_cases_failed++;
                fprintf(stderr, "FAIL %s\n", name);
            }
        }
        free(names[i]);
    }
    free(names);
    REQUIRE(df_test_cases_passed + df_test_cases_failed >= 40);
    return df_test_done();
}
