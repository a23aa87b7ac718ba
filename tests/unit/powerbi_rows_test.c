/* powerbi_rows_test: what the powerbi connector sends to Power BI: column
 * data types, the table of a new dataset (with the task's mapping), and
 * chunks encoded as POST rows bodies: every type, NULL, escapes, UTF-8,
 * resumed chunks starting midway; values Power BI would refuse (strings
 * over 4,000 UTF-16 units, NaN, text that is not UTF-8) fail naming the
 * row and column. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/powerbi_rows.h"
#include "df_test.h"

static const df_column_t columns[] = {
    { "id", DF_COL_INT },     { "name", DF_COL_STRING }, { "price", DF_COL_FLOAT },
    { "paid", DF_COL_BOOL },  { "day", DF_COL_DATE },    { "at", DF_COL_DATETIME },
    { "extra", DF_COL_JSON },
};
#define NCOLS (sizeof(columns) / sizeof(columns[0]))

static void set_str(df_chunk_t *chunk, df_cell_t *cell, const char *s)
{
    REQUIRE(df_chunk_set_str(chunk, cell, s, strlen(s)));
    cell->null = false;
}

/* Row r of the test chunk: id r+1, and every other type. */
static void add_row(df_chunk_t *chunk, int64_t id, const char *name, double price)
{
    df_cell_t *row = df_chunk_add_row(chunk);

    REQUIRE(row != NULL);
    row[0].null = false;
    row[0].v.i = id;
    set_str(chunk, &row[1], name);
    row[2].null = false;
    row[2].v.f = price;
    row[3].null = false;
    row[3].v.b = id % 2 == 0;
    set_str(chunk, &row[4], "2024-02-29");
    set_str(chunk, &row[5], "2024-02-29T23:59:58.125Z");
    set_str(chunk, &row[6], "{\"k\":[1,2]}");
}

/* The body of rows [from, n) of chunk, or NULL with err set. */
static char *encode(const df_chunk_t *chunk, size_t from, const df_powerbi_columns_t *cols,
                    df_error_t *err)
{
    df_http_buf_t buf;
    char *out = NULL;

    df_http_buf_init(&buf, 0);
    if (df_powerbi_rows_encode(chunk, from, cols, &buf, err) == DF_OK)
        out = strdup(buf.data);
    df_http_buf_free(&buf);
    return out;
}

static void test_data_types(void)
{
    CHECK_STR(df_powerbi_data_type(DF_COL_INT), "Int64");
    CHECK_STR(df_powerbi_data_type(DF_COL_FLOAT), "Double");
    CHECK_STR(df_powerbi_data_type(DF_COL_BOOL), "Boolean");
    CHECK_STR(df_powerbi_data_type(DF_COL_DATE), "DateTime");
    CHECK_STR(df_powerbi_data_type(DF_COL_DATETIME), "DateTime");
    CHECK_STR(df_powerbi_data_type(DF_COL_STRING), "String");
    CHECK_STR(df_powerbi_data_type(DF_COL_JSON), "String");
}

static void test_dataset_body_with_mapping(void)
{
    json_t *mapping = json_pack("{s:s, s:s}", "name", "Customer", "at", "Created at");
    df_powerbi_columns_t cols;
    df_error_t err;
    json_t *body;
    char *text;

    df_error_init(&err);
    REQUIRE(df_powerbi_columns_init(&cols, columns, NCOLS, mapping, &err) == DF_OK);
    CHECK_INT(cols.n, NCOLS);
    CHECK_STR(cols.names[1], "Customer");
    CHECK_STR(cols.keys[5], "\"Created at\":");
    CHECK_INT(df_powerbi_columns_find(&cols, "customer"), 1);
    CHECK_INT(df_powerbi_columns_find(&cols, "name"), -1);
    body = df_powerbi_dataset_body("Sales", "Orders", &cols);
    REQUIRE(body != NULL);
    text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK_STR(text, "{\"name\":\"Sales\",\"defaultMode\":\"Push\",\"tables\":[{\"name\":\"Orders\","
                    "\"columns\":[{\"name\":\"id\",\"dataType\":\"Int64\"},{\"name\":\"Customer\","
                    "\"dataType\":\"String\"},{\"name\":\"price\",\"dataType\":\"Double\"},"
                    "{\"name\":\"paid\",\"dataType\":\"Boolean\"},{\"name\":\"day\",\"dataType\":"
                    "\"DateTime\"},{\"name\":\"Created at\",\"dataType\":\"DateTime\"},{\"name\":"
                    "\"extra\",\"dataType\":\"String\"}]}]}");
    free(text);
    json_decref(body);
    df_powerbi_columns_free(&cols);
    df_powerbi_columns_free(&cols); /* reusable, freeing twice is harmless */
    json_decref(mapping);
}

static void test_mapping_errors(void)
{
    json_t *unknown = json_pack("{s:s}", "nme", "Customer");
    json_t *clash = json_pack("{s:s}", "name", "ID");
    json_t *not_string = json_pack("{s:i}", "name", 3);
    df_column_t many[DF_POWERBI_MAX_COLUMNS + 1];
    df_powerbi_columns_t cols;
    df_error_t err;

    df_error_init(&err);
    CHECK(df_powerbi_columns_init(&cols, columns, NCOLS, unknown, &err) == DF_ERR_INVALID);
    CHECK(strstr(err.message, "mapping names column \"nme\"") != NULL);
    CHECK_STR(err.field, "/params/mapping");
    CHECK_INT(cols.n, 0);
    df_error_init(&err);
    CHECK(df_powerbi_columns_init(&cols, columns, NCOLS, clash, &err) == DF_ERR_INVALID);
    CHECK(strstr(err.message, "would both be column \"ID\"") != NULL);
    df_error_init(&err);
    CHECK(df_powerbi_columns_init(&cols, columns, NCOLS, not_string, &err) == DF_ERR_INVALID);
    memset(many, 0, sizeof(many));
    for (size_t i = 0; i < DF_POWERBI_MAX_COLUMNS + 1; i++)
        snprintf(many[i].name, sizeof(many[i].name), "c%zu", i);
    df_error_init(&err);
    CHECK(df_powerbi_columns_init(&cols, many, DF_POWERBI_MAX_COLUMNS + 1, NULL, &err) ==
          DF_ERR_INVALID);
    CHECK(strstr(err.message, "at most 75") != NULL);
    df_error_init(&err);
    CHECK(df_powerbi_columns_init(&cols, many, DF_POWERBI_MAX_COLUMNS, NULL, &err) == DF_OK);
    df_powerbi_columns_free(&cols);
    json_decref(unknown);
    json_decref(clash);
    json_decref(not_string);
}

static void test_encode_rows(void)
{
    df_powerbi_columns_t cols;
    df_chunk_t chunk;
    df_error_t err;
    char *body;
    json_t *doc, *rows;
    df_cell_t *row;

    df_error_init(&err);
    REQUIRE(df_powerbi_columns_init(&cols, columns, NCOLS, NULL, &err) == DF_OK);
    df_chunk_init(&chunk);
    df_chunk_reset(&chunk, NCOLS, 100);
    add_row(&chunk, 1, "plain", 1.5);
    add_row(&chunk, 2, "quote \" back\\slash\nnew\ttab\x01 \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
            0.1);
    add_row(&chunk, 3, "", -2e-308);
    row = df_chunk_add_row(&chunk); /* row 4: NULL but the id */
    REQUIRE(row != NULL);
    row[0].null = false;
    row[0].v.i = -9223372036854775807LL - 1;

    body = encode(&chunk, 0, &cols, &err);
    REQUIRE(body != NULL);
    {
        const char *first = "{\"rows\":[{\"id\":1,\"name\":\"plain\",\"price\":1.5,\"paid\":"
                            "false,\"day\":\"2024-02-29\",\"at\":\"2024-02-29T23:59:58.125Z\","
                            "\"extra\":\"{\\\"k\\\":[1,2]}\"},";
        CHECK_MSG(strncmp(body, first, strlen(first)) == 0, "%.200s", body);
    }
    CHECK(strstr(body, "\"name\":\"quote \\\" back\\\\slash\\nnew\\ttab\\u0001 "
                       "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80\"") != NULL);
    CHECK(strstr(body, "\"price\":0.1,") != NULL); /* shortest text that reads back */
    CHECK(strstr(body, "{\"id\":-9223372036854775808,\"name\":null,\"price\":null,\"paid\":null,"
                       "\"day\":null,\"at\":null,\"extra\":null}]}") != NULL);
    /* A JSON parser reads back exactly the values. */
    doc = json_loads(body, 0, NULL);
    rows = json_object_get(doc, "rows");
    CHECK_INT(json_array_size(rows), 4);
    CHECK(json_real_value(json_object_get(json_array_get(rows, 2), "price")) == -2e-308);
    CHECK(json_is_true(json_object_get(json_array_get(rows, 1), "paid")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 0), "extra")),
              "{\"k\":[1,2]}");
    json_decref(doc);
    free(body);

    /* A resumed chunk: only the rows from `from` on. */
    body = encode(&chunk, 2, &cols, &err);
    REQUIRE(body != NULL);
    CHECK(strncmp(body, "{\"rows\":[{\"id\":3,", 17) == 0);
    doc = json_loads(body, 0, NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "rows")), 2);
    json_decref(doc);
    free(body);
    body = encode(&chunk, 4, &cols, &err);
    CHECK_STR(body, "{\"rows\":[]}");
    free(body);
    df_chunk_free(&chunk);
    df_powerbi_columns_free(&cols);
}

static void test_refused_values(void)
{
    static const df_column_t two[] = { { "id", DF_COL_INT }, { "note", DF_COL_STRING } };
    static const df_column_t num[] = { { "ratio", DF_COL_FLOAT } };
    df_powerbi_columns_t cols, ncols;
    df_chunk_t chunk;
    df_error_t err;
    char *big = malloc(4 * 4001 + 1);
    df_cell_t *row;

    REQUIRE(big != NULL);
    df_error_init(&err);
    REQUIRE(df_powerbi_columns_init(&cols, two, 2, NULL, &err) == DF_OK);
    df_chunk_init(&chunk);

    /* 4,000 characters pass, 4,001 fail: counted in UTF-16 units, so 2,000
     * emoji (surrogate pairs) are 4,000 and one more is over. */
    df_chunk_reset(&chunk, 2, 41);
    memset(big, 'x', 4001);
    row = df_chunk_add_row(&chunk);
    REQUIRE(df_chunk_set_str(&chunk, &row[1], big, 4000));
    row[1].null = false;
    free(encode(&chunk, 0, &cols, &err));
    CHECK_INT(err.code, DF_OK);
    row = df_chunk_add_row(&chunk);
    REQUIRE(df_chunk_set_str(&chunk, &row[1], big, 4001));
    row[1].null = false;
    CHECK(encode(&chunk, 0, &cols, &err) == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_STR(err.field, "row 43, column note");
    CHECK_STR(err.message, "row 43, column note: a string of 4001 characters; Power BI takes at "
                           "most 4000 per value");

    df_chunk_reset(&chunk, 2, 0);
    for (int i = 0; i < 2001; i++)
        memcpy(big + 4 * i, "\xf0\x9f\x98\x80", 4);
    row = df_chunk_add_row(&chunk);
    REQUIRE(df_chunk_set_str(&chunk, &row[1], big, 4 * 2000));
    row[1].null = false;
    df_error_init(&err);
    free(encode(&chunk, 0, &cols, &err));
    CHECK_INT(err.code, DF_OK);
    row = df_chunk_add_row(&chunk);
    REQUIRE(df_chunk_set_str(&chunk, &row[1], big, 4 * 2001));
    row[1].null = false;
    CHECK(encode(&chunk, 0, &cols, &err) == NULL);
    CHECK(strstr(err.message, "a string of 4002 characters") != NULL);

    /* Not UTF-8. */
    df_chunk_reset(&chunk, 2, 0);
    row = df_chunk_add_row(&chunk);
    REQUIRE(df_chunk_set_str(&chunk, &row[1], "ok \xff", 4));
    row[1].null = false;
    df_error_init(&err);
    CHECK(encode(&chunk, 0, &cols, &err) == NULL);
    CHECK_STR(err.message, "row 1, column note: the text is not valid UTF-8");

    /* NaN and infinity have no JSON text. */
    REQUIRE(df_powerbi_columns_init(&ncols, num, 1, NULL, &err) == DF_OK);
    df_chunk_reset(&chunk, 1, 9);
    row = df_chunk_add_row(&chunk);
    row[0].null = false;
    row[0].v.f = NAN;
    df_error_init(&err);
    CHECK(encode(&chunk, 0, &ncols, &err) == NULL);
    CHECK_STR(err.field, "row 10, column ratio");
    CHECK(strstr(err.message, "NaN and infinite numbers") != NULL);
    row[0].v.f = -INFINITY;
    df_error_init(&err);
    CHECK(encode(&chunk, 0, &ncols, &err) == NULL);

    /* A body over the buffer's limit is an error, not a truncated body. */
    {
        df_http_buf_t small;
        df_chunk_reset(&chunk, 2, 0);
        row = df_chunk_add_row(&chunk);
        REQUIRE(df_chunk_set_str(&chunk, &row[1], big, 1000));
        row[1].null = false;
        df_http_buf_init(&small, 100);
        df_error_init(&err);
        CHECK(df_powerbi_rows_encode(&chunk, 0, &cols, &small, &err) != DF_OK);
        df_http_buf_free(&small);
    }
    df_chunk_free(&chunk);
    df_powerbi_columns_free(&cols);
    df_powerbi_columns_free(&ncols);
    free(big);
}

static void test_utf16_len(void)
{
    CHECK_INT(df_powerbi_utf16_len("", 0), 0);
    CHECK_INT(df_powerbi_utf16_len("abc", 3), 3);
    CHECK_INT(df_powerbi_utf16_len("\xc3\xa9", 2), 1);          /* é */
    CHECK_INT(df_powerbi_utf16_len("\xe2\x82\xac", 3), 1);      /* € */
    CHECK_INT(df_powerbi_utf16_len("\xf0\x9f\x98\x80", 4), 2);  /* 😀: a surrogate pair */
    CHECK_INT(df_powerbi_utf16_len("\xc0\xaf", 2), -1);         /* overlong */
    CHECK_INT(df_powerbi_utf16_len("\xe0\x80\xaf", 3), -1);     /* overlong */
    CHECK_INT(df_powerbi_utf16_len("\xed\xa0\x80", 3), -1);     /* a surrogate */
    CHECK_INT(df_powerbi_utf16_len("\xf4\x90\x80\x80", 4), -1); /* > U+10FFFF */
    CHECK_INT(df_powerbi_utf16_len("\xe2\x82", 2), -1);         /* cut short */
    CHECK_INT(df_powerbi_utf16_len("\x80", 1), -1);             /* lone continuation */
    CHECK_INT(df_powerbi_utf16_len("a\0b", 3), 3);              /* NUL is a character */
}

int main(void)
{
    RUN(test_data_types);
    RUN(test_dataset_body_with_mapping);
    RUN(test_mapping_errors);
    RUN(test_encode_rows);
    RUN(test_refused_values);
    RUN(test_utf16_len);
    return df_test_done();
}
