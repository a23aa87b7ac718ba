/* source_http_json_test: the http_json source against a small bookings API
 * (tests/unit/data/sources/_http_server/server.py, Python's http.server on
 * a free loopback port): page, offset, cursor and Link-header pagination,
 * records paths (JSON Pointer and dotted), flattening and exploding,
 * per-record enrichment (with a 404), bearer and basic auth from the
 * environment, a date range split into windows each paginated in turn, a
 * 429 with Retry-After then success, retries running out, max_pages, POST
 * bodies, and bad data named by row and column. Every read is compared
 * with the records the server holds, and the requests it saw are checked
 * from its log. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "df_test.h"
#include "sources/source.h"

#define BOOKINGS 23
#define TOKEN    "s3cret-token-for-tests"
#define PASSWORD "pa55word-for-tests"

static pid_t server_pid;
static char base[128];
static char port_file[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the server --------------------------------------------------------------------- */

static void stop_server(void);

static void start_server(void)
{
    const char *root = getenv("DF_SOURCE_DIR");
    char script[1024];
    FILE *f;
    int port = 0;

    snprintf(script, sizeof(script), "%s/tests/unit/data/sources/_http_server/server.py",
             root ? root : ".");
    snprintf(port_file, sizeof(port_file), "/tmp/df-http-source-%d.port", (int)getpid());
    unlink(port_file);
    server_pid = fork();
    REQUIRE(server_pid >= 0);
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives the test */
        execl("/usr/bin/python3", "python3", script, port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !port; i++) {
        struct timespec ts = { 0, 50 * 1000000L };
        if ((f = fopen(port_file, "r")) != NULL) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (!port)
            nanosleep(&ts, NULL);
    }
    atexit(stop_server); /* also when a REQUIRE ends the test early */
    REQUIRE(port > 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
}

static void stop_server(void)
{
    int status;
    if (server_pid <= 0)
        return;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, &status, 0);
    server_pid = 0;
    unlink(port_file);
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    char **buf = userdata;
    size_t old = *buf ? strlen(*buf) : 0, n = size * nmemb;
    char *grown = realloc(*buf, old + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + old, data, n);
    grown[old + n] = '\0';
    *buf = grown;
    return n;
}

/* The paths the server saw since the last call (and its counters reset). */
static json_t *server_log(void)
{
    CURL *c = curl_easy_init();
    char url[256], *body = NULL;
    json_t *log;

    snprintf(url, sizeof(url), "%s/_log", base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    REQUIRE(curl_easy_perform(c) == CURLE_OK);
    curl_easy_cleanup(c);
    log = json_loads(body ? body : "", 0, NULL);
    free(body);
    REQUIRE(json_is_array(log));
    return log;
}

static bool log_has(const json_t *log, size_t i, const char *path)
{
    const char *got = json_string_value(json_array_get(log, i));
    bool ok = got && strcmp(got, path) == 0;
    if (!ok)
        fprintf(stderr, "request %zu: %s, want %s\n", i, got ? got : "(none)", path);
    return ok;
}

/* ---- reading -------------------------------------------------------------------------- */

/* settings: a JSON text with "%s" for the base URL (once or twice). */
static json_t *settings_for(const char *fmt)
{
    char text[4096];
    json_error_t jerr;
    json_t *s;
    snprintf(text, sizeof(text), fmt, base, base);
    s = json_loads(text, 0, &jerr);
    if (!s)
        fprintf(stderr, "bad settings %s: %s\n", text, jerr.text);
    REQUIRE(s != NULL);
    return s;
}

static json_t *cell_json(const df_column_t *col, const df_cell_t *cell)
{
    if (cell->null)
        return json_null();
    switch (col->type) {
    case DF_COL_INT: return json_integer(cell->v.i);
    case DF_COL_FLOAT: return json_real(cell->v.f);
    case DF_COL_BOOL: return json_boolean(cell->v.b);
    case DF_COL_JSON: return json_loadb(cell->v.s.ptr, cell->v.s.len, JSON_DECODE_ANY, NULL);
    default: return json_stringn(cell->v.s.ptr, cell->v.s.len);
    }
}

/* Read everything: {"columns": {"name": "type", ...} in order, "rows": [{"name":
 * value}]}, or NULL with err. */
static json_t *read_all(const char *fmt, df_error_t *err)
{
    json_t *settings = settings_for(fmt), *cols, *rows;
    df_source_env_t env = { 0 };
    df_source_t *src;
    df_chunk_t chunk;
    const df_column_t *columns;
    size_t ncols;

    df_error_init(err);
    src = df_source_open(settings, &env, err);
    json_decref(settings);
    if (!src)
        return NULL;
    columns = df_source_columns(src, &ncols);
    cols = json_object();
    rows = json_array();
    for (size_t c = 0; c < ncols; c++)
        json_object_set_new(cols, columns[c].name, json_string(df_col_type_name(columns[c].type)));
    df_chunk_init(&chunk);
    for (;;) {
        if (df_source_next(src, &chunk, 4, err) != DF_OK) {
            json_decref(rows);
            json_decref(cols);
            df_chunk_free(&chunk);
            df_source_close(src);
            return NULL;
        }
        if (chunk.nrows == 0)
            break;
        for (size_t r = 0; r < chunk.nrows; r++) {
            json_t *row = json_object();
            for (size_t c = 0; c < ncols; c++)
                json_object_set_new(row, columns[c].name,
                                    cell_json(&columns[c], df_chunk_cell(&chunk, r, c)));
            json_array_append_new(rows, row);
        }
    }
    df_chunk_free(&chunk);
    df_source_close(src);
    return json_pack("{s:o, s:o}", "columns", cols, "rows", rows);
}

/* Booking i as the source flattens it (server.py's booking()). */
static json_t *booking(int i)
{
    static const char *const countries[] = { "NO", "SE", "DK" };
    char ref[16], name[32], created[16];
    json_t *rooms = json_pack("[{s:s, s:i}]", "type", "double", "n", 1);
    if (i % 2 == 0)
        json_array_append_new(rooms, json_pack("{s:s, s:i}", "type", "single", "n", 2));
    snprintf(ref, sizeof(ref), "B-%04d", i);
    snprintf(name, sizeof(name), "Guest %d", i);
    snprintf(created, sizeof(created), "2024-01-%02d", i);
    return json_pack("{s:i, s:s, s:s, s:s, s:f, s:s, s:s, s:o}", "id", i, "ref", ref, "guest.name",
                     name, "guest.address.country", countries[i % 3], "amount", i * 10.5, "created",
                     created, "status", i % 4 == 0 ? "cancelled" : "confirmed", "rooms", rooms);
}

static const char *const booking_columns =
    "{\"id\":\"integer\",\"ref\":\"string\",\"guest.name\":\"string\","
    "\"guest.address.country\":\"string\",\"amount\":\"float\",\"created\":\"date\","
    "\"status\":\"string\",\"rooms\":\"json\"}";

/* got holds exactly the bookings ids[0..n) in order, with the standard
 * columns. */
static void check_bookings(const char *what, const json_t *got, const int *ids, size_t n)
{
    json_t *want_cols = json_loads(booking_columns, 0, NULL);
    const json_t *rows = json_object_get(got, "rows");
    char *g;

    REQUIRE(got != NULL);
    g = json_dumps(json_object_get(got, "columns"), JSON_COMPACT);
    CHECK_MSG(json_equal(json_object_get(got, "columns"), want_cols), "%s: columns %s", what, g);
    free(g);
    json_decref(want_cols);
    CHECK_MSG(json_array_size(rows) == n, "%s: %zu rows, want %zu", what, json_array_size(rows), n);
    for (size_t r = 0; r < n && r < json_array_size(rows); r++) {
        json_t *want = booking(ids[r]);
        if (!json_equal(json_array_get(rows, r), want)) {
            char *a = json_dumps(json_array_get(rows, r), JSON_COMPACT);
            char *b = json_dumps(want, JSON_COMPACT);
            CHECK_MSG(false, "%s: row %zu\n  got  %s\n  want %s", what, r + 1, a, b);
            free(a);
            free(b);
        }
        json_decref(want);
    }
}

static void check_all_bookings(const char *what, const json_t *got)
{
    int ids[BOOKINGS];
    for (int i = 0; i < BOOKINGS; i++)
        ids[i] = i + 1;
    check_bookings(what, got, ids, BOOKINGS);
}

/* ---- pagination ----------------------------------------------------------------------------- */

static void test_page(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/page\","
                           "\"records_path\":\"data\",\"pagination\":{\"type\":\"page\","
                           "\"param\":\"page\",\"start\":1,\"size_param\":\"per_page\","
                           "\"size\":5}}",
                           &err);
    json_t *log = server_log();

    CHECK_MSG(got != NULL, "%s", err.message);
    check_all_bookings("page", got);
    CHECK_INT(json_array_size(log), 6); /* 5 pages of records, then an empty one */
    CHECK(log_has(log, 0, "/bookings/page?page=1&per_page=5"));
    CHECK(log_has(log, 5, "/bookings/page?page=6&per_page=5"));
    json_decref(got);
    json_decref(log);
}

static void test_offset(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/offset\","
                           "\"records_path\":\"/items\",\"pagination\":{\"type\":\"offset\","
                           "\"limit\":10}}",
                           &err);
    json_t *log = server_log();

    CHECK_MSG(got != NULL, "%s", err.message);
    check_all_bookings("offset", got);
    CHECK_INT(json_array_size(log), 4);
    CHECK(log_has(log, 0, "/bookings/offset?offset=0&limit=10"));
    CHECK(log_has(log, 2, "/bookings/offset?offset=20&limit=10"));
    CHECK(log_has(log, 3, "/bookings/offset?offset=23&limit=10"));
    json_decref(got);
    json_decref(log);
}

static void test_cursor(void)
{
    df_error_t err;
    /* the schema's spelling: "style" */
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/cursor\","
                           "\"records_path\":\"results\",\"pagination\":{\"style\":\"cursor\","
                           "\"cursor_path\":\"meta.next_cursor\",\"param\":\"cursor\"}}",
                           &err);
    json_t *log = server_log();

    CHECK_MSG(got != NULL, "%s", err.message);
    check_all_bookings("cursor", got);
    CHECK_INT(json_array_size(log), 5); /* the fifth page has no next cursor */
    CHECK(log_has(log, 0, "/bookings/cursor"));
    CHECK(log_has(log, 1, "/bookings/cursor?cursor=c5"));
    CHECK(log_has(log, 4, "/bookings/cursor?cursor=c20"));
    json_decref(got);
    json_decref(log);
}

static void test_link(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/link\","
                           "\"pagination\":{\"type\":\"link\"}}",
                           &err);
    json_t *log = server_log();

    CHECK_MSG(got != NULL, "%s", err.message);
    check_all_bookings("link", got);
    CHECK_INT(json_array_size(log), 4); /* absolute and relative next links */
    CHECK(log_has(log, 1, "/bookings/link?page=2"));
    CHECK(log_has(log, 3, "/bookings/link?page=4"));
    json_decref(got);
    json_decref(log);
}

static void test_max_pages(void)
{
    df_error_t err;
    int ids[10];
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/page\","
                           "\"records_path\":\"data\",\"pagination\":{\"type\":\"page\","
                           "\"size\":5,\"max_pages\":2}}",
                           &err);
    json_t *log = server_log();

    for (int i = 0; i < 10; i++)
        ids[i] = i + 1;
    CHECK_MSG(got != NULL, "%s", err.message);
    check_bookings("max_pages", got, ids, 10);
    CHECK_INT(json_array_size(log), 2);
    json_decref(got);
    json_decref(log);
}

static void test_records_paths_and_post(void)
{
    df_error_t err;
    int ids[] = { 1, 2, 3, 4 }, cancelled[] = { 4, 8, 12, 16, 20 };
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/nested\","
                           "\"records_path\":\"/response/bookings\"}",
                           &err);
    CHECK_MSG(got != NULL, "%s", err.message);
    check_bookings("pointer", got, ids, 4);
    json_decref(got);
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/nested\","
                   "\"records_path\":\"response.bookings\"}",
                   &err);
    CHECK_MSG(got != NULL, "%s", err.message);
    check_bookings("dotted", got, ids, 4);
    json_decref(got);
    /* an object body without records_path */
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/nested\"}", &err);
    CHECK(got == NULL && err.code == DF_ERR_INVALID);
    CHECK_STR(err.message, "page 1: the response is not an array of records (set records_path)");
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/search\",\"method\":\"POST\","
                   "\"body\":{\"status\":\"cancelled\"}}",
                   &err);
    CHECK_MSG(got != NULL, "%s", err.message);
    check_bookings("post", got, cancelled, 5);
    json_decref(got);
    json_decref(server_log());
}

/* ---- shapes and enrichment ------------------------------------------------------------- */

static void test_explode(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/link\","
                           "\"pagination\":{\"type\":\"link\"},\"arrays\":\"explode\","
                           "\"flatten_separator\":\"_\"}",
                           &err);
    const json_t *rows;
    size_t r = 0;

    CHECK_MSG(got != NULL, "%s", err.message);
    if (!got)
        return;
    rows = json_object_get(got, "rows");
    CHECK_STR(json_string_value(json_object_get(json_object_get(got, "columns"), "rooms_type")),
              "string");
    CHECK_STR(json_string_value(json_object_get(json_object_get(got, "columns"), "rooms_n")),
              "integer");
    CHECK_INT(json_array_size(rows), BOOKINGS + BOOKINGS / 2); /* even ids have two rooms */
    for (int i = 1; i <= BOOKINGS; i++) {
        for (int room = 1; room <= (i % 2 == 0 ? 2 : 1); room++, r++) {
            const json_t *row = json_array_get(rows, r);
            CHECK(json_integer_value(json_object_get(row, "id")) == i);
            CHECK(json_integer_value(json_object_get(row, "rooms_n")) == room);
            CHECK_STR(json_string_value(json_object_get(row, "rooms_type")),
                      room == 1 ? "double" : "single");
        }
    }
    json_decref(got);
    json_decref(server_log());
}

static void test_enrich(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/page\","
                           "\"records_path\":\"data\",\"pagination\":{\"type\":\"page\","
                           "\"size\":10},\"enrich\":{\"url\":\"%s/bookings/details/{id}\","
                           "\"merge_as\":\"details\",\"missing\":\"null\"}}",
                           &err);
    const json_t *rows, *cols;
    json_t *log = server_log();

    CHECK_MSG(got != NULL, "%s", err.message);
    if (got) {
        rows = json_object_get(got, "rows");
        cols = json_object_get(got, "columns");
        CHECK_STR(json_string_value(json_object_get(cols, "details.nights")), "integer");
        CHECK_STR(json_string_value(json_object_get(cols, "details.channel")), "string");
        CHECK_STR(json_string_value(json_object_get(cols, "details.notes.vip")), "boolean");
        CHECK_INT(json_array_size(rows), BOOKINGS);
        for (int i = 1; i <= BOOKINGS && (size_t)i <= json_array_size(rows); i++) {
            const json_t *row = json_array_get(rows, (size_t)i - 1);
            if (i == 13) {
                CHECK(json_is_null(json_object_get(row, "details.nights")));
                continue;
            }
            CHECK(json_integer_value(json_object_get(row, "details.nights")) == i % 5 + 1);
            CHECK_STR(json_string_value(json_object_get(row, "details.channel")),
                      i % 2 ? "web" : "phone");
            CHECK(json_is_true(json_object_get(row, "details.notes.vip")) == (i % 7 == 0));
        }
    }
    /* 4 pages (10, 10, 3, 0) and one details call per booking */
    CHECK_INT(json_array_size(log), 4 + BOOKINGS);
    CHECK(log_has(log, 1, "/bookings/details/1"));
    json_decref(got);
    json_decref(log);

    /* By default a missing detail is an error naming the row. */
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/page\","
                   "\"records_path\":\"data\",\"pagination\":{\"type\":\"page\","
                   "\"size\":10},\"enrich\":{\"url\":\"%s/bookings/details/{id}\"}}",
                   &err);
    CHECK(got == NULL && err.code == DF_ERR_HTTP && !err.retryable);
    CHECK_MSG(strstr(err.message, "row 13: enrich: GET ") == err.message &&
                  strstr(err.message, "/bookings/details/13: HTTP 404") != NULL,
              "%s", err.message);
    /* a template field the record lacks */
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/nested\",\"records_path\":"
                   "\"/response/bookings\",\"enrich\":{\"url\":\"%s/bookings/details/{nope}\"}}",
                   &err);
    CHECK(got == NULL && err.code == DF_ERR_INVALID);
    CHECK_STR(err.message, "row 1: enrich: the record has no value for {nope} (page 1)");
    json_decref(server_log());
}

/* ---- auth ---------------------------------------------------------------------------------- */

static void test_auth(void)
{
    df_error_t err;
    json_t *got;
    int ids[] = { 1, 2, 3 };

    setenv("DF_TEST_BOOKINGS_TOKEN", TOKEN, 1);
    setenv("DF_TEST_BOOKINGS_WRONG", "not-the-token", 1);
    setenv("DF_TEST_BOOKINGS_PASSWORD", PASSWORD, 1);
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/auth-bearer\",\"auth\":"
                   "{\"type\":\"bearer\",\"token_env\":\"DF_TEST_BOOKINGS_TOKEN\"}}",
                   &err);
    CHECK_MSG(got != NULL, "%s", err.message);
    if (got)
        check_bookings("bearer", got, ids, 2);
    json_decref(got);
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/auth-bearer\",\"auth\":"
                   "{\"type\":\"bearer\",\"token_env\":\"DF_TEST_BOOKINGS_WRONG\"}}",
                   &err);
    CHECK(got == NULL && err.code == DF_ERR_AUTH && !err.retryable);
    CHECK_MSG(strstr(err.message, "HTTP 401") != NULL, "%s", err.message);
    CHECK(strstr(err.message, "not-the-token") == NULL);
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/auth-basic\",\"auth\":"
                   "{\"type\":\"basic\",\"username\":\"user\","
                   "\"password_env\":\"DF_TEST_BOOKINGS_PASSWORD\"}}",
                   &err);
    CHECK_MSG(got != NULL, "%s", err.message);
    if (got)
        check_bookings("basic", got, ids, 3);
    json_decref(got);
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/auth-basic\"}", &err);
    CHECK(got == NULL && err.code == DF_ERR_AUTH);
    json_decref(server_log());
}

/* ---- date range ------------------------------------------------------------------------------ */

static void test_date_range(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/range\","
                           "\"records_path\":\"data\",\"pagination\":{\"type\":\"page\"},"
                           "\"date_range\":{\"start\":\"2024-01-01\",\"end\":\"2024-01-23\","
                           "\"step_days\":7,\"start_param\":\"from\",\"end_param\":\"to\"}}",
                           &err);
    json_t *log = server_log();

    CHECK_MSG(got != NULL, "%s", err.message);
    check_all_bookings("date_range", got);
    /* windows of 7, 7, 7 and 2 days; pages of 3: 3+1, 3+1, 3+1, 1+1 requests */
    CHECK_INT(json_array_size(log), 14);
    CHECK(log_has(log, 0, "/bookings/range?from=2024-01-01&to=2024-01-07&page=1"));
    CHECK(log_has(log, 3, "/bookings/range?from=2024-01-01&to=2024-01-07&page=4"));
    CHECK(log_has(log, 4, "/bookings/range?from=2024-01-08&to=2024-01-14&page=1"));
    CHECK(log_has(log, 12, "/bookings/range?from=2024-01-22&to=2024-01-23&page=1"));
    CHECK(log_has(log, 13, "/bookings/range?from=2024-01-22&to=2024-01-23&page=2"));
    json_decref(got);
    json_decref(log);
}

/* ---- faults ------------------------------------------------------------------------------------
 */

static void test_retries(void)
{
    df_error_t err;
    int ids[] = { 1, 2, 3, 4, 5 };
    double t0 = now_s(), took;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/flaky\"}", &err);
    json_t *log = server_log();

    took = now_s() - t0;
    CHECK_MSG(got != NULL, "%s", err.message);
    if (got)
        check_bookings("flaky", got, ids, 5);
    CHECK_INT(json_array_size(log), 3); /* 429 (Retry-After: 1), 503, 200 */
    printf("429 + 503 then success in %.2f s\n", took);
    CHECK_MSG(took >= 0.95 && took < 5, "%.2f s", took);
    json_decref(got);
    json_decref(log);

    /* Retry-After beyond what a task waits in place: handed back at once. */
    t0 = now_s();
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/always-429\"}", &err);
    log = server_log();
    CHECK(got == NULL && err.code == DF_ERR_HTTP && err.retryable);
    CHECK_INT(err.retry_after_ms, 120000);
    CHECK_INT(json_array_size(log), 1);
    CHECK(now_s() - t0 < 1);
    json_decref(log);

    got =
        read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/always-500\",\"retries\":2}", &err);
    log = server_log();
    CHECK(got == NULL && err.code == DF_ERR_HTTP && err.retryable);
    CHECK_MSG(strstr(err.message, "page 1: GET ") == err.message &&
                  strstr(err.message, "/bookings/always-500: HTTP 500") != NULL &&
                  strstr(err.message, "database on fire") != NULL,
              "%s", err.message);
    CHECK_INT(json_array_size(log), 3);
    json_decref(log);

    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/nope\"}", &err);
    CHECK(got == NULL && err.code == DF_ERR_HTTP && !err.retryable);
    CHECK_MSG(strstr(err.message, "HTTP 404") != NULL, "%s", err.message);

    /* nobody listens: a transport failure, retryable */
    got = read_all("{\"kind\":\"http_json\",\"url\":\"http://127.0.0.1:1/x\",\"retries\":0}", &err);
    CHECK(got == NULL && err.code == DF_ERR_HTTP && err.retryable);
    json_decref(server_log());
}

static void test_bad_data(void)
{
    df_error_t err;
    json_t *got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/bad-value\","
                           "\"pagination\":{\"type\":\"page\"}}",
                           &err);
    CHECK(got == NULL && err.code == DF_ERR_INVALID);
    CHECK_STR(err.field, "row 5, column amount");
    CHECK_STR(err.message, "row 5, column amount: expected number, got \"lots\" (page 2)");

    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/notjson\"}", &err);
    CHECK(got == NULL && err.code == DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "page 1: the response is not JSON") == err.message, "%s",
              err.message);

    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/loop-cursor\",\"records_path\":"
                   "\"results\",\"pagination\":{\"type\":\"cursor\",\"cursor_path\":\"next\"}}",
                   &err);
    CHECK(got == NULL && err.code == DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "the API returned the same cursor again") != NULL, "%s",
              err.message);

    /* keys first seen after the first page: ignored by default ... */
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/new-key\","
                   "\"pagination\":{\"type\":\"page\"}}",
                   &err);
    CHECK_MSG(got != NULL, "%s", err.message);
    if (got) {
        char *text = json_dumps(got, JSON_COMPACT);
        CHECK_STR(text, "{\"columns\":{\"id\":\"integer\",\"a\":\"string\"},\"rows\":[{\"id\":1,"
                        "\"a\":\"x\"},{\"id\":2,\"a\":\"y\"}]}");
        free(text);
    }
    json_decref(got);
    /* ... or refused */
    got = read_all("{\"kind\":\"http_json\",\"url\":\"%s/bookings/new-key\","
                   "\"pagination\":{\"type\":\"page\"},\"unknown_keys\":\"error\"}",
                   &err);
    CHECK(got == NULL && err.code == DF_ERR_INVALID);
    CHECK_STR(err.message, "row 2: key \"extra\" is not one of the columns (they come from the "
                           "sample or the columns setting) (page 2)");
    json_decref(server_log());
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_server();
    json_decref(server_log());
    RUN(test_page);
    RUN(test_offset);
    RUN(test_cursor);
    RUN(test_link);
    RUN(test_max_pages);
    RUN(test_records_paths_and_post);
    RUN(test_explode);
    RUN(test_enrich);
    RUN(test_auth);
    RUN(test_date_range);
    RUN(test_retries);
    RUN(test_bad_data);
    stop_server();
    curl_global_cleanup();
    return df_test_done();
}
