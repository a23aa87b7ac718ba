/* source_values_test: the value parsers, type inference, UTF-8 checks,
 * JSON paths and record flattening the sources share
 * (worker/sources/source_internal.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "df_test.h"
#include "sources/source_internal.h"

#define S(text) text, strlen(text)

static void test_parse_int(void)
{
    int64_t v = 0;
    CHECK(src_parse_int(S("42"), &v) && v == 42);
    CHECK(src_parse_int(S(" -7 "), &v) && v == -7);
    CHECK(src_parse_int(S("+3"), &v) && v == 3);
    CHECK(src_parse_int(S("9223372036854775807"), &v) && v == INT64_MAX);
    CHECK(src_parse_int(S("-9223372036854775808"), &v) && v == INT64_MIN);
    CHECK(!src_parse_int(S("9223372036854775808"), &v));
    CHECK(!src_parse_int(S("1.0"), &v));
    CHECK(!src_parse_int(S(""), &v));
    CHECK(!src_parse_int(S("-"), &v));
    CHECK(!src_parse_int(S("12a"), &v));
    CHECK(!src_parse_int(S("1 2"), &v));
}

static void test_parse_float(void)
{
    double f = 0;
    CHECK(src_parse_float(S("1.5"), &f) && f == 1.5);
    CHECK(src_parse_float(S("-2e-3"), &f) && f == -2e-3);
    CHECK(src_parse_float(S(".5"), &f) && f == 0.5);
    CHECK(src_parse_float(S("5."), &f) && f == 5.0);
    CHECK(src_parse_float(S("1E+2"), &f) && f == 100.0);
    CHECK(!src_parse_float(S("nan"), &f));
    CHECK(!src_parse_float(S("inf"), &f));
    CHECK(!src_parse_float(S("Infinity"), &f));
    CHECK(!src_parse_float(S("0x10"), &f));
    CHECK(!src_parse_float(S("1e"), &f));
    CHECK(!src_parse_float(S("e5"), &f));
    CHECK(!src_parse_float(S("."), &f));
    CHECK(!src_parse_float(S("1e400"), &f)); /* does not fit a double */
    CHECK(!src_parse_float(S("1,5"), &f));
}

static void test_parse_bool_and_dates(void)
{
    bool b = false;
    CHECK(src_parse_bool(S("TRUE"), &b) && b);
    CHECK(src_parse_bool(S("f"), &b) && !b);
    CHECK(src_parse_bool(S("Yes"), &b) && b);
    CHECK(src_parse_bool(S("0"), &b) && !b);
    CHECK(!src_parse_bool(S("2"), &b));
    CHECK(!src_parse_bool(S("truth"), &b));

    CHECK(src_parse_date(S("2024-02-29")));
    CHECK(src_parse_date(S("2000-02-29")));
    CHECK(!src_parse_date(S("1900-02-29")));
    CHECK(!src_parse_date(S("2023-02-29")));
    CHECK(!src_parse_date(S("2024-13-01")));
    CHECK(!src_parse_date(S("2024-04-31")));
    CHECK(!src_parse_date(S("2024-1-01")));
    CHECK(!src_parse_date(S("0000-01-01")));
    CHECK(!src_parse_date(S("2024-01-01T00:00:00")));
}

static void check_datetime(const char *in, const char *want)
{
    char out[48];
    bool ok = src_parse_datetime(in, strlen(in), out, sizeof(out));
    if (want)
        CHECK_MSG(ok && strcmp(out, want) == 0, "%s -> %s, want %s", in, ok ? out : "(refused)",
                  want);
    else
        CHECK_MSG(!ok, "%s -> %s, want refused", in, out);
}

static void test_parse_datetime(void)
{
    check_datetime("2024-01-31", "2024-01-31T00:00:00Z");
    check_datetime("2024-01-31T10:20", "2024-01-31T10:20:00Z");
    check_datetime("2024-01-31 10:20:30", "2024-01-31T10:20:30Z");
    check_datetime("2024-01-31t10:20:30z", "2024-01-31T10:20:30Z");
    check_datetime("2024-01-31T10:20:30.5Z", "2024-01-31T10:20:30.5Z");
    check_datetime("2024-01-31T10:20:30,123456789+00:00", "2024-01-31T10:20:30.123456789Z");
    check_datetime("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z");
    check_datetime("2023-12-31T23:30:00-0100", "2024-01-01T00:30:00Z");
    check_datetime("2024-06-01T12:00:00+05", "2024-06-01T07:00:00Z");
    check_datetime("2024-06-01T12:00:00-09:30", "2024-06-01T21:30:00Z");
    check_datetime("2024-06-01 12:00:00.000001+00", "2024-06-01T12:00:00.000001Z"); /* postgres */
    check_datetime("0099-03-04T05:06:07.08Z", "0099-03-04T05:06:07.08Z"); /* zero padding */
    check_datetime("9999-12-31T23:59:59-00:01", NULL);                    /* past year 9999 */
    check_datetime("2024-01-01T24:00:00", NULL);
    check_datetime("2024-01-01T10:00:60", NULL);
    check_datetime("2024-01-01T10:60", NULL);
    check_datetime("2024-01-01T10:00:00.1234567890Z", NULL);
    check_datetime("2024-01-01T10:00:00.Z", NULL);
    check_datetime("2024-01-01T10:00:00+1", NULL);
    check_datetime("2024-01-01T10:00:00+24:00", NULL);
    check_datetime("2024-01-01T10:00:00 UTC", NULL);
    check_datetime("9999-12-31T23:00:00-02:00", NULL); /* year 10000 in UTC */
    check_datetime("0001-01-01T00:30:00+01:00", NULL); /* year 0 in UTC */
    check_datetime("infinity", NULL);
    check_datetime("2024-01-01T", NULL);
    {
        int64_t days = 0;
        char date[16];
        CHECK(src_date_to_days("1970-01-02", &days) && days == 1);
        CHECK(src_date_to_days("2024-03-01", &days));
        src_days_to_date(days - 1, date, sizeof(date));
        CHECK_STR(date, "2024-02-29");
        CHECK(!src_date_to_days("2024-3-1", &days));
    }
}

static df_col_type_t infer_texts(const char *const *values)
{
    src_infer_t inf;
    src_infer_init(&inf);
    for (; *values; values++)
        src_infer_text(&inf, *values, strlen(*values));
    return src_infer_result(&inf);
}

static void test_infer_text(void)
{
    const char *ints[] = { "1", "-20", "0", NULL };
    const char *floats[] = { "1", "2.5", "-1e3", NULL };
    const char *bools[] = { "true", "F", "yes", NULL };
    const char *zero_one[] = { "1", "0", NULL };
    const char *dates[] = { "2024-01-01", "2024-12-31", NULL };
    const char *datetimes[] = { "2024-01-01", "2024-12-31T10:00:00Z", NULL };
    const char *codes[] = { "007", "123", NULL };
    const char *mixed[] = { "1", "abc", NULL };
    const char *none[] = { NULL };

    CHECK(infer_texts(ints) == DF_COL_INT);
    CHECK(infer_texts(floats) == DF_COL_FLOAT);
    CHECK(infer_texts(bools) == DF_COL_BOOL);
    CHECK(infer_texts(zero_one) == DF_COL_INT);
    CHECK(infer_texts(dates) == DF_COL_DATE);
    CHECK(infer_texts(datetimes) == DF_COL_DATETIME);
    CHECK(infer_texts(codes) == DF_COL_STRING);
    CHECK(infer_texts(mixed) == DF_COL_STRING);
    CHECK(infer_texts(none) == DF_COL_STRING);
}

static df_col_type_t infer_json(const char *array_text)
{
    json_error_t jerr;
    json_t *arr = json_loads(array_text, 0, &jerr);
    src_infer_t inf;
    size_t i;
    json_t *v;

    REQUIRE(arr != NULL);
    src_infer_init(&inf);
    json_array_foreach(arr, i, v) src_infer_json(&inf, v);
    json_decref(arr);
    return src_infer_result(&inf);
}

static void test_infer_json(void)
{
    CHECK(infer_json("[1, 2, null]") == DF_COL_INT);
    CHECK(infer_json("[1, 2.5]") == DF_COL_FLOAT);
    CHECK(infer_json("[true, false]") == DF_COL_BOOL);
    CHECK(infer_json("[\"2024-01-01\", null]") == DF_COL_DATE);
    CHECK(infer_json("[\"2024-01-01\", \"2024-01-01T10:00:00+02:00\"]") == DF_COL_DATETIME);
    CHECK(infer_json("[\"12\", \"13\"]") == DF_COL_STRING); /* strings stay strings */
    CHECK(infer_json("[1, \"a\"]") == DF_COL_STRING);
    CHECK(infer_json("[[1], {\"a\": 1}]") == DF_COL_JSON);
    CHECK(infer_json("[[1], \"a\"]") == DF_COL_JSON);
    CHECK(infer_json("[null, null]") == DF_COL_STRING);
    CHECK(infer_json("[true, 1]") == DF_COL_STRING);
}

static void test_utf8(void)
{
    CHECK(src_utf8_valid(S("plain")) == 5);
    CHECK(src_utf8_valid(S("d\xc3\xa9j\xc3\xa0")) == 6);
    CHECK(src_utf8_valid(S("\xf0\x9f\x98\x80")) == 4);
    CHECK(src_utf8_valid(S("ab\xc0\x80")) == 2);       /* overlong */
    CHECK(src_utf8_valid(S("\xed\xa0\x80")) == 0);     /* surrogate */
    CHECK(src_utf8_valid(S("x\xe2\x82")) == 1);        /* cut short */
    CHECK(src_utf8_valid(S("\xf4\x90\x80\x80")) == 0); /* beyond U+10FFFF */
    CHECK(src_utf8_valid(S("\xe0\x80\xaf")) == 0);     /* overlong 3-byte */
    CHECK(src_utf8_valid(S("ok\xff")) == 2);
}

static void test_cells_from_json(void)
{
    df_chunk_t chunk;
    df_cell_t *row;
    df_error_t err;
    src_where_t where = { 7, "col", "page 2" };
    json_t *v;

    df_chunk_init(&chunk);
    df_chunk_reset(&chunk, 4, 0);
    df_error_init(&err);
    row = df_chunk_add_row(&chunk);
    REQUIRE(row != NULL);
    v = json_real(3.0);
    CHECK(src_cell_from_json(&chunk, &row[0], DF_COL_INT, v, &where, &err) == DF_OK &&
          row[0].v.i == 3);
    json_decref(v);
    v = json_real(3.5);
    CHECK(src_cell_from_json(&chunk, &row[0], DF_COL_INT, v, &where, &err) == DF_ERR_INVALID);
    CHECK_STR(err.field, "row 7, column col");
    CHECK_STR(err.message, "row 7, column col: expected integer, got \"3.5\" (page 2)");
    json_decref(v);
    v = json_string("yes");
    CHECK(src_cell_from_json(&chunk, &row[1], DF_COL_BOOL, v, &where, &err) == DF_OK && row[1].v.b);
    CHECK(src_cell_from_json(&chunk, &row[2], DF_COL_JSON, v, &where, &err) == DF_OK);
    CHECK(row[2].v.s.len == 5 && memcmp(row[2].v.s.ptr, "\"yes\"", 5) == 0);
    json_decref(v);
    v = json_real(0.1);
    CHECK(src_cell_from_json(&chunk, &row[3], DF_COL_STRING, v, &where, &err) == DF_OK);
    CHECK_STR(row[3].v.s.ptr, "0.1");
    json_decref(v);
    v = json_pack("{s:[i,i]}", "a", 1, 2);
    CHECK(src_cell_from_json(&chunk, &row[3], DF_COL_STRING, v, &where, &err) == DF_OK);
    CHECK_STR(row[3].v.s.ptr, "{\"a\":[1,2]}");
    CHECK(src_cell_from_json(&chunk, &row[3], DF_COL_DATE, v, &where, &err) == DF_ERR_INVALID);
    CHECK_STR(err.message,
              "row 7, column col: expected date (YYYY-MM-DD), got \"{\\\"a\\\":[1,2]}\" (page 2)");
    json_decref(v);
    CHECK(src_cell_from_json(&chunk, &row[0], DF_COL_INT, NULL, &where, &err) == DF_OK &&
          row[0].null);
    df_chunk_free(&chunk);
}

static void test_value_error_quoting(void)
{
    df_error_t err;
    src_where_t where = { 1, "c", NULL };
    char long_value[200];

    memset(long_value, 'z', sizeof(long_value));
    src_value_error(&where, "integer", "a\"b\nc", 5, &err);
    CHECK_STR(err.message, "row 1, column c: expected integer, got \"a\\\"b\\nc\"");
    src_value_error(&where, "integer", long_value, sizeof(long_value), &err);
    CHECK(strstr(err.message, "zzz\"...") != NULL && strlen(err.message) < 150);
}

static void test_json_path(void)
{
    json_error_t jerr;
    json_t *doc = json_loads("{\"data\":{\"items\":[{\"id\":1},{\"id\":2}],\"a/b\":3,\"m~n\":4},"
                             "\"meta\":{\"next_cursor\":\"c2\"}}",
                             0, &jerr);
    REQUIRE(doc != NULL);
    CHECK(src_json_path(doc, "") == doc);
    CHECK(src_json_path(doc, NULL) == doc);
    CHECK(json_is_array(src_json_path(doc, "/data/items")));
    CHECK(json_is_array(src_json_path(doc, "data.items")));
    CHECK(json_integer_value(src_json_path(doc, "/data/items/1/id")) == 2);
    CHECK(json_integer_value(src_json_path(doc, "data.items.0.id")) == 1);
    CHECK(json_integer_value(src_json_path(doc, "/data/a~1b")) == 3);
    CHECK(json_integer_value(src_json_path(doc, "/data/m~0n")) == 4);
    CHECK_STR(json_string_value(src_json_path(doc, "meta.next_cursor")), "c2");
    CHECK(src_json_path(doc, "meta.missing") == NULL);
    CHECK(src_json_path(doc, "/data/items/9") == NULL);
    CHECK(src_json_path(doc, "data.items.x") == NULL);
    json_decref(doc);
}

static void test_explode_bound(void)
{
    src_flat_t flat;
    df_error_t err;
    json_t *rec = json_object(), *a = json_array(), *b = json_array();

    for (int i = 0; i < 200; i++) {
        json_array_append_new(a, json_integer(i));
        json_array_append_new(b, json_integer(i));
    }
    json_object_set_new(rec, "a", a);
    json_object_set_new(rec, "b", b);
    src_flat_init(&flat, true, true, ".");
    df_error_init(&err);
    /* 200 x 200 = 40,000 rows from one record: refused. */
    CHECK(src_flat_record(&flat, rec, 5, NULL, &err) == DF_ERR_INVALID);
    CHECK_STR(err.message, "row 5: arrays explode into more than 10000 rows");
    /* 200 x 1 is fine, and the flattener is reusable after a failure. */
    json_array_clear(b);
    json_array_append_new(b, json_string("x"));
    CHECK(src_flat_record(&flat, rec, 6, NULL, &err) == DF_OK);
    CHECK_INT(flat.nrows, 200);
    CHECK_INT(flat.rows[199].n, 2);
    src_flat_free(&flat);
    json_decref(rec);
}

int main(void)
{
    RUN(test_parse_int);
    RUN(test_parse_float);
    RUN(test_parse_bool_and_dates);
    RUN(test_parse_datetime);
    RUN(test_infer_text);
    RUN(test_infer_json);
    RUN(test_utf8);
    RUN(test_cells_from_json);
    RUN(test_value_error_quoting);
    RUN(test_json_path);
    RUN(test_explode_bound);
    return df_test_done();
}
