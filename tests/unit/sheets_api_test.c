/* sheets_api_test: the pure parts of the google_sheets connector: A1
 * ranges (column letters, quoting, the rows of an API answer's range), the
 * encoding of cells written with valueInputOption=RAW, upsert key texts,
 * and how Google's answers map to outcomes. */
#include <string.h>

#include "connectors/google_sheets_api.h"
#include "df_test.h"

static void test_column_letters(void)
{
    static const struct {
        size_t col;
        const char *letters;
    } cases[] = { { 0, "A" },   { 25, "Z" },   { 26, "AA" },   { 51, "AZ" },
                  { 52, "BA" }, { 701, "ZZ" }, { 702, "AAA" }, { 18277, "ZZZ" } };
    char out[8];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        df_sheets_column(cases[i].col, out, sizeof(out));
        CHECK_STR(out, cases[i].letters);
    }
    df_sheets_column(702, out, 3); /* too small: cut, still terminated */
    CHECK_STR(out, "AA");
}

static void test_a1_ranges(void)
{
    char out[DF_SHEETS_A1_MAX];

    CHECK(df_sheets_a1("Sheet1", 0, 3, 2, 10, out, sizeof(out)));
    CHECK_STR(out, "'Sheet1'!A2:D10");
    CHECK(df_sheets_a1("Sheet1", 2, 4, 2, 0, out, sizeof(out)));
    CHECK_STR(out, "'Sheet1'!C2:E");
    CHECK(df_sheets_a1("Sales 2024", 0, 0, 0, 0, out, sizeof(out)));
    CHECK_STR(out, "'Sales 2024'");
    CHECK(df_sheets_a1("It's", 0, 27, 1, 1, out, sizeof(out)));
    CHECK_STR(out, "'It''s'!A1:AB1");
    CHECK(df_sheets_a1("a!b:c", 0, 0, 5, 5, out, sizeof(out)));
    CHECK_STR(out, "'a!b:c'!A5:A5");
    CHECK(!df_sheets_a1("Sheet1", 0, 3, 2, 10, out, 12));
    CHECK(!df_sheets_a1("Sheet1", 0, 0, 0, 0, out, 8));
    CHECK(df_sheets_a1("Sheet1", 0, 0, 0, 0, out, 9));
}

static void test_range_rows(void)
{
    int64_t first = 0, last = 0;

    CHECK(df_sheets_range_rows("Sheet1!A5:D9", &first, &last));
    CHECK_INT(first, 5);
    CHECK_INT(last, 9);
    CHECK(df_sheets_range_rows("'It''s'!B7", &first, &last));
    CHECK_INT(first, 7);
    CHECK_INT(last, 7);
    CHECK(df_sheets_range_rows("'a!b:c'!A1001:AB2000", &first, &last));
    CHECK_INT(first, 1001);
    CHECK_INT(last, 2000);
    CHECK(!df_sheets_range_rows("Sheet1!A:D", &first, &last));
    CHECK(!df_sheets_range_rows("Sheet1", &first, &last));
    CHECK(!df_sheets_range_rows("'unterminated!A1", &first, &last));
    CHECK(!df_sheets_range_rows("Sheet1!A9:D5", &first, &last));
    CHECK(!df_sheets_range_rows("", &first, &last));
}

/* The JSON text of one encoded cell, or "error: <message>". */
static void encode(const df_cell_t *cell, df_col_type_t type, char *out, size_t len)
{
    json_t *v = NULL;
    df_error_t err;
    char *text;

    df_error_init(&err);
    if (df_sheets_cell_json(cell, type, &v, &err) != DF_OK) {
        snprintf(out, len, "error: %.200s", err.message);
        return;
    }
    text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(out, len, "%s", text ? text : "?");
    free(text);
    json_decref(v);
}

static df_cell_t text_cell(const char *s, size_t len)
{
    df_cell_t c = { .null = false };
    c.v.s.ptr = s;
    c.v.s.len = len;
    return c;
}

static void test_value_encoding(void)
{
    df_cell_t c = { .null = true };
    char out[256];
    char *big;

    encode(&c, DF_COL_INT, out, sizeof(out));
    CHECK_STR(out, "\"\""); /* NULL: an empty cell, also over an old value */
    c.null = false;
    c.v.i = 42;
    encode(&c, DF_COL_INT, out, sizeof(out));
    CHECK_STR(out, "42");
    c.v.i = ((int64_t)1 << 53);
    encode(&c, DF_COL_INT, out, sizeof(out));
    CHECK_STR(out, "9007199254740992");
    c.v.i = ((int64_t)1 << 53) + 1; /* a double cannot hold it: text */
    encode(&c, DF_COL_INT, out, sizeof(out));
    CHECK_STR(out, "\"9007199254740993\"");
    c.v.i = -((int64_t)1 << 62);
    encode(&c, DF_COL_INT, out, sizeof(out));
    CHECK_STR(out, "\"-4611686018427387904\"");
    c.v.f = 1.5;
    encode(&c, DF_COL_FLOAT, out, sizeof(out));
    CHECK_STR(out, "1.5");
    c.v.f = 0.0 / 0.0;
    encode(&c, DF_COL_FLOAT, out, sizeof(out));
    CHECK_STR(out, "\"NaN\"");
    c.v.f = 1e308 * 10;
    encode(&c, DF_COL_FLOAT, out, sizeof(out));
    CHECK_STR(out, "\"Infinity\"");
    c.v.f = -1e308 * 10;
    encode(&c, DF_COL_FLOAT, out, sizeof(out));
    CHECK_STR(out, "\"-Infinity\"");
    c.v.b = true;
    encode(&c, DF_COL_BOOL, out, sizeof(out));
    CHECK_STR(out, "true");
    c = text_cell("2024-02-29", 10);
    encode(&c, DF_COL_DATE, out, sizeof(out));
    CHECK_STR(out, "\"2024-02-29\"");
    c = text_cell("2024-02-29T13:45:00.250Z", 24);
    encode(&c, DF_COL_DATETIME, out, sizeof(out));
    CHECK_STR(out, "\"2024-02-29T13:45:00.250Z\"");
    c = text_cell("=HYPERLINK(\"x\")", 15); /* RAW: text, never a formula */
    encode(&c, DF_COL_STRING, out, sizeof(out));
    CHECK_STR(out, "\"=HYPERLINK(\\\"x\\\")\"");
    c = text_cell("{\"a\":[1,2]}", 11);
    encode(&c, DF_COL_JSON, out, sizeof(out));
    CHECK_STR(out, "\"{\\\"a\\\":[1,2]}\"");
    c = text_cell("caf\xc3", 4);
    encode(&c, DF_COL_STRING, out, sizeof(out));
    CHECK_STR(out, "error: text is not valid UTF-8");

    /* 50,000 characters fit however many bytes they take; one more does not. */
    big = malloc(2 * DF_SHEETS_CELL_CHARS_MAX + 2);
    REQUIRE(big);
    for (size_t i = 0; i < DF_SHEETS_CELL_CHARS_MAX; i++)
        memcpy(big + 2 * i, "\xc3\xa9", 2);
    c = text_cell(big, 2 * DF_SHEETS_CELL_CHARS_MAX);
    encode(&c, DF_COL_STRING, out, 8);
    CHECK_MSG(strncmp(out, "\"\xc3\xa9", 3) == 0, "%s", out);
    big[2 * DF_SHEETS_CELL_CHARS_MAX] = 'x';
    c = text_cell(big, 2 * DF_SHEETS_CELL_CHARS_MAX + 1);
    encode(&c, DF_COL_STRING, out, sizeof(out));
    CHECK_STR(out, "error: 50001 characters; a Google Sheets cell holds at most 50000");
    free(big);
}

static void test_row_bodies(void)
{
    df_col_type_t types[] = { DF_COL_INT, DF_COL_STRING, DF_COL_BOOL };
    json_t *names = json_pack("[s,s,s]", "id", "note", "ok");
    df_chunk_t c;
    df_cell_t *row;
    df_outcome_t out;
    char *texts[2], *body;

    df_chunk_init(&c);
    df_chunk_reset(&c, 3, 40); /* rows 41.. of the export */
    row = df_chunk_add_row(&c);
    REQUIRE(row);
    row[0].null = false;
    row[0].v.i = 41;
    REQUIRE(df_chunk_set_str(&c, &row[1], "a \"b\"", 5));
    row[1].null = false;
    row = df_chunk_add_row(&c);
    REQUIRE(row);
    row[2].null = false;
    row[2].v.b = false;
    REQUIRE(df_chunk_set_str(&c, &row[1], "\xff", 1));
    row[1].null = false;

    df_outcome_init(&out);
    texts[0] = df_sheets_row_text(&c, 0, types, names, 100, &out);
    CHECK_STR(texts[0], "[41,\"a \\\"b\\\"\",\"\"]");
    texts[1] = df_sheets_row_text(&c, 1, types, names, 100, &out);
    CHECK(texts[1] == NULL);
    CHECK_INT(out.kind, DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "invalid_value");
    CHECK_STR(out.error.message, "row 42, column note: text is not valid UTF-8");
    df_outcome_init(&out);
    CHECK(df_sheets_row_text(&c, 0, types, names, 10, &out) == NULL);
    CHECK_STR(out.code, "row_too_large");
    CHECK_STR(out.error.message, "row 41 is 17 bytes of JSON; a request carries at most 10");

    texts[1] = "[1,2]";
    body = df_sheets_values_body("\"range\":\"'S'!A2:C3\",", texts, 2);
    CHECK_STR(body, "{\"range\":\"'S'!A2:C3\",\"majorDimension\":\"ROWS\",\"values\":[[41,\"a "
                    "\\\"b\\\"\",\"\"],[1,2]]}");
    free(body);
    body = df_sheets_values_body("", texts, 0);
    CHECK_STR(body, "{\"majorDimension\":\"ROWS\",\"values\":[]}");
    free(body);
    free(texts[0]);
    df_chunk_free(&c);
    json_decref(names);
}

/* The key text of a JSON value (given as JSON text). */
static void key_of(const char *json, char *out, size_t len)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    df_http_buf_t key;

    df_http_buf_init(&key, 0);
    CHECK(df_sheets_key_append(&key, v));
    snprintf(out, len, "%s", key.data ? key.data : "");
    df_http_buf_free(&key);
    json_decref(v);
}

static void test_key_text(void)
{
    char a[64], b[64];

    key_of("\"abc\"", a, sizeof(a));
    CHECK_STR(a, "abc");
    key_of("3", a, sizeof(a));
    key_of("3.0", b, sizeof(b));
    CHECK_STR(a, "3");
    CHECK_STR(b, "3"); /* the sheet may give back 3 for a 3.0 written */
    key_of("\"3\"", a, sizeof(a));
    CHECK_STR(a, "3");
    key_of("1.5", a, sizeof(a));
    CHECK_STR(a, "1.5");
    key_of("0.1", a, sizeof(a));
    CHECK_STR(a, "0.1");
    key_of("-1e300", a, sizeof(a));
    CHECK_STR(a, "-1e+300");
    key_of("true", a, sizeof(a));
    CHECK_STR(a, "TRUE");
    key_of("false", a, sizeof(a));
    CHECK_STR(a, "FALSE");
    key_of("null", a, sizeof(a));
    CHECK_STR(a, "");
}

/* Classify a response of status with body (Retry-After: retry_ms). */
static df_outcome_kind_t classify(long status, const char *body, int64_t retry_ms,
                                  df_outcome_t *out)
{
    df_http_response_t resp;

    df_http_response_init(&resp);
    resp.status = status;
    resp.body = (char *)body;
    resp.body_len = strlen(body);
    resp.retry_after_ms = retry_ms;
    df_outcome_init(out);
    return df_sheets_classify(&resp, out);
}

static void test_error_mapping(void)
{
    df_outcome_t out;

    CHECK_INT(classify(200, "{}", -1, &out), DF_OUTCOME_OK);
    CHECK_INT(classify(404,
                       "{\"error\":{\"code\":404,\"message\":\"Requested entity was not "
                       "found.\",\"status\":\"NOT_FOUND\"}}",
                       -1, &out),
              DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "not_found");
    CHECK_STR(out.error.message, "HTTP 404: NOT_FOUND: Requested entity was not found.");
    CHECK(!out.error.retryable);

    CHECK_INT(classify(429,
                       "{\"error\":{\"code\":429,\"message\":\"Quota exceeded for quota metric "
                       "'Write requests'\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
                       -1, &out),
              DF_OUTCOME_RETRY);
    CHECK_STR(out.code, "rate_limited");
    CHECK_INT(out.retry_after_ms, -1); /* no Retry-After: back off */
    CHECK(strstr(out.error.message, "RESOURCE_EXHAUSTED") != NULL);
    CHECK(out.error.retryable);

    CHECK_INT(classify(429, "{}", 7000, &out), DF_OUTCOME_RETRY);
    CHECK_INT(out.retry_after_ms, 7000);
    CHECK_INT(out.error.retry_after_ms, 7000);

    CHECK_INT(classify(503,
                       "{\"error\":{\"code\":503,\"message\":\"The service is currently "
                       "unavailable.\",\"status\":\"UNAVAILABLE\"}}",
                       -1, &out),
              DF_OUTCOME_RETRY);
    CHECK_STR(out.code, "unavailable");
    CHECK_INT(classify(500, "<html>oops</html>", -1, &out), DF_OUTCOME_RETRY);
    CHECK_STR(out.error.message, "HTTP 500");

    CHECK_INT(classify(401,
                       "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication "
                       "credentials.\",\"status\":\"UNAUTHENTICATED\"}}",
                       -1, &out),
              DF_OUTCOME_AUTH);
    CHECK_STR(out.code, "auth_failed");

    CHECK_INT(classify(403,
                       "{\"error\":{\"code\":403,\"message\":\"The caller does not have "
                       "permission\",\"status\":\"PERMISSION_DENIED\"}}",
                       -1, &out),
              DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "permission_denied");
    CHECK(strstr(out.error.message, "The caller does not have permission") != NULL);

    CHECK_INT(classify(400,
                       "{\"error\":{\"code\":400,\"message\":\"This action would increase the "
                       "number of cells in the workbook above the limit of 10000000 "
                       "cells.\",\"status\":\"INVALID_ARGUMENT\"}}",
                       -1, &out),
              DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "cell_limit");
    CHECK_INT(classify(400,
                       "{\"error\":{\"code\":400,\"message\":\"Unable to parse range: "
                       "x!!\",\"status\":\"INVALID_ARGUMENT\"}}",
                       -1, &out),
              DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "invalid_argument");
    CHECK_STR(out.error.message, "HTTP 400: INVALID_ARGUMENT: Unable to parse range: x!!");
    CHECK_INT(classify(413, "", -1, &out), DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "payload_too_large");
    CHECK_INT(classify(409, "{}", -1, &out), DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "http_error");
}

int main(void)
{
    RUN(test_column_letters);
    RUN(test_a1_ranges);
    RUN(test_range_rows);
    RUN(test_value_encoding);
    RUN(test_row_bodies);
    RUN(test_key_text);
    RUN(test_error_mapping);
    return df_test_done();
}
