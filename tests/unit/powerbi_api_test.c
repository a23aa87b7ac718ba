/* powerbi_api_test: how the powerbi connector reads Power BI's answers and
 * its own settings, without a server: the classes of statuses (403
 * TokenExpired means "get a new token", other 403s are permanent; 429 and
 * 5xx retryable with Retry-After), the vendor's message kept; the DAX
 * query that counts a table and the reading of its answer; what a count
 * says about a POST whose answer was lost (with basicFIFO trimming); the
 * backoff bounds; the settings and limits of a connector definition. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/powerbi.h"
#include "connectors/powerbi_api.h"
#include "df_test.h"

static df_http_response_t answer(long status, const char *body, int64_t retry_after_ms)
{
    df_http_response_t r;

    df_http_response_init(&r);
    r.status = status;
    r.body = (char *)body;
    r.body_len = strlen(body);
    r.retry_after_ms = retry_after_ms;
    return r;
}

static void test_classify(void)
{
    df_error_t err;
    df_http_response_t r;

    df_error_init(&err);
    r = answer(200, "", -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_OK);
    CHECK_INT(err.code, DF_OK);

    r = answer(403,
               "{\"error\":{\"code\":\"TokenExpired\",\"message\":\"Access token has expired, "
               "resubmit with a new access token\"}}",
               -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_AUTH);
    CHECK_STR(err.message, "HTTP 403: TokenExpired: Access token has expired, resubmit with a new "
                           "access token");

    df_error_init(&err);
    r = answer(401, "{\"error\":{\"code\":\"PowerBINotAuthorizedException\",\"pbi.error\":{}}}",
               -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_AUTH);
    CHECK_INT(err.code, DF_ERR_AUTH);
    CHECK(strstr(err.message, "PowerBINotAuthorizedException") != NULL);

    df_error_init(&err); /* a 403 that is not an expired token: no refresh helps */
    r = answer(403, "{\"error\":{\"code\":\"Forbidden\",\"message\":\"no access\"}}", -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_PERMANENT);
    r = answer(403, "not json", -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_PERMANENT);

    df_error_init(&err);
    r = answer(429,
               "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"You are over your rows "
               "per hour limit for this dataset.\"}}",
               37000);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_RETRY);
    CHECK(err.retryable);
    CHECK_INT(err.retry_after_ms, 37000);
    CHECK(strstr(err.message, "HTTP 429: TooManyRequests: You are over your rows") != NULL);

    df_error_init(&err);
    r = answer(503, "{\"error\":{\"code\":\"ServiceUnavailable\"}}", -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_RETRY);
    CHECK_INT(err.retry_after_ms, -1);

    df_error_init(&err);
    r = answer(404,
               "{\"error\":{\"code\":\"ItemNotFound\",\"message\":\"Dataset 42 is not found! "
               "please verify datasetId is correct and user have sufficient permissions.\"}}",
               -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_PERMANENT);
    CHECK(!err.retryable);
    CHECK(strstr(err.message, "HTTP 404: ItemNotFound: Dataset 42 is not found!") != NULL);

    df_error_init(&err);
    r = answer(400, "{\"error\":{\"code\":\"InvalidRequest\",\"message\":\"row 3: bad\"}}", -1);
    CHECK(df_powerbi_classify(&r, &err) == DF_HTTP_PERMANENT);
    CHECK_STR(err.message, "HTTP 400: InvalidRequest: row 3: bad");
}

static void test_count_query(void)
{
    char q[128];

    CHECK(df_powerbi_count_query("Orders", q, sizeof(q)));
    CHECK_STR(q, "EVALUATE ROW(\"n\", COUNTROWS('Orders'))");
    CHECK(df_powerbi_count_query("O'Brien's", q, sizeof(q)));
    CHECK_STR(q, "EVALUATE ROW(\"n\", COUNTROWS('O''Brien''s'))");
    CHECK(!df_powerbi_count_query("a very long table name that cannot fit", q, 40));
    CHECK_STR(q, "");
    CHECK(!df_powerbi_count_query("T", q, 10));
}

static void test_count_parse(void)
{
    const char *ok = "{\"results\":[{\"tables\":[{\"rows\":[{\"[n]\":25000}]}]}]}";
    const char *real = "{\"results\":[{\"tables\":[{\"rows\":[{\"[n]\":12.0}]}]}]}";
    const char *blank = "{\"results\":[{\"tables\":[{\"rows\":[{\"[n]\":null}]}]}]}";
    const char *error = "{\"error\":{\"code\":\"DatasetExecuteQueriesError\"}}";
    int64_t n = -1;

    CHECK(df_powerbi_count_parse(ok, strlen(ok), &n));
    CHECK_INT(n, 25000);
    CHECK(df_powerbi_count_parse(real, strlen(real), &n));
    CHECK_INT(n, 12);
    n = -1;
    CHECK(!df_powerbi_count_parse(blank, strlen(blank), &n));
    CHECK(!df_powerbi_count_parse(error, strlen(error), &n));
    CHECK(!df_powerbi_count_parse("", 0, &n));
    CHECK(!df_powerbi_count_parse("{\"results\":[]}", 14, &n));
    CHECK_INT(n, -1);
}

static void test_landed(void)
{
    /* Plain tables: the count tells. */
    CHECK(df_powerbi_landed(10000, 10000, 20000, 0) == DF_POWERBI_LANDED_YES);
    CHECK(df_powerbi_landed(10000, 10000, 10000, 0) == DF_POWERBI_LANDED_NO);
    CHECK(df_powerbi_landed(10000, 10000, 15000, 0) == DF_POWERBI_LANDED_UNKNOWN); /* a writer */
    CHECK(df_powerbi_landed(10000, 10000, 0, 0) == DF_POWERBI_LANDED_UNKNOWN);     /* cleared */
    /* Unknown counts. */
    CHECK(df_powerbi_landed(-1, 10000, 20000, 0) == DF_POWERBI_LANDED_UNKNOWN);
    CHECK(df_powerbi_landed(10000, 10000, -1, 0) == DF_POWERBI_LANDED_UNKNOWN);
    CHECK(df_powerbi_landed(10000, 0, 10000, 0) == DF_POWERBI_LANDED_UNKNOWN);
    /* basicFIFO keeps 200,000 rows: the count moves until the table is full. */
    CHECK(df_powerbi_landed(195000, 10000, 200000, 200000) == DF_POWERBI_LANDED_YES);
    CHECK(df_powerbi_landed(195000, 10000, 195000, 200000) == DF_POWERBI_LANDED_NO);
    CHECK(df_powerbi_landed(200000, 10000, 200000, 200000) == DF_POWERBI_LANDED_UNKNOWN);
    CHECK(df_powerbi_landed(250000, 10000, 200000, 200000) == DF_POWERBI_LANDED_UNKNOWN);
}

static void test_backoff(void)
{
    for (int tries = 1; tries <= 10; tries++) {
        for (int i = 0; i < 50; i++) {
            int64_t ms = df_powerbi_backoff_ms(tries);
            int64_t cap = tries >= 5 ? 4000 : 250 << (tries - 1);
            CHECK_MSG(ms >= cap / 2 && ms <= cap, "try %d: %lld ms", tries, (long long)ms);
        }
    }
}

/* A task context whose connector is not in the registry (no limits). */
static df_stop_reason_t never(df_task_ctx_t *ctx)
{
    (void)ctx;
    return DF_STOP_NONE;
}

static void test_config(void)
{
    json_t *config = json_pack("{s:s, s:s}", "tenant_id", "contoso", "client_id", "app");
    json_t *secrets = json_pack("{s:s}", "client_secret", "s3cret");
    df_task_ctx_t ctx = { .connector_config = config,
                          .connector_secrets = secrets,
                          .should_stop = never };
    df_powerbi_config_t cfg;
    df_outcome_t out;

    df_outcome_init(&out);
    CHECK(df_powerbi_config_read(&ctx, &cfg, &out) == DF_OUTCOME_OK);
    CHECK_STR(cfg.api_base_url, "https://api.powerbi.com/v1.0/myorg");
    CHECK(cfg.token_url == NULL && cfg.workspace_id == NULL);
    CHECK_INT(cfg.requests_per_minute, 120);
    CHECK_INT(cfg.rows_per_hour, 1000000);
    CHECK_INT(cfg.minute_ms, 60000);
    CHECK_STR(cfg.client_secret, "s3cret");

    json_object_set_new(config, "minute_ms", json_integer(2000));
    json_object_set_new(config, "workspace_id", json_string("f089354e"));
    CHECK(df_powerbi_config_read(&ctx, &cfg, &out) == DF_OUTCOME_OK);
    CHECK_INT(cfg.minute_ms, 2000);
    CHECK_STR(cfg.workspace_id, "f089354e");

    json_object_set_new(config, "minute_ms", json_integer(0));
    CHECK(df_powerbi_config_read(&ctx, &cfg, &out) == DF_OUTCOME_PERMANENT);
    CHECK_STR(out.code, "invalid_config");
    CHECK_STR(out.error.field, "config.minute_ms");
    json_object_del(config, "minute_ms");

    json_object_del(secrets, "client_secret");
    df_outcome_init(&out);
    CHECK(df_powerbi_config_read(&ctx, &cfg, &out) == DF_OUTCOME_PERMANENT);
    CHECK_STR(out.error.field, "secrets.client_secret");
    CHECK(strstr(out.error.message, "s3cret") == NULL);

    json_object_set_new(config, "tenant_id", json_integer(5));
    df_outcome_init(&out);
    CHECK(df_powerbi_config_read(&ctx, &cfg, &out) == DF_OUTCOME_PERMANENT);
    CHECK_STR(out.error.field, "config.tenant_id");
    json_decref(config);
    json_decref(secrets);
}

static void test_kind(void)
{
    CHECK_STR(df_connector_powerbi.kind, "powerbi");
    CHECK(df_connector_powerbi.export_ops != NULL);
    CHECK(df_connector_powerbi.probe != NULL && df_connector_powerbi.export_rows != NULL);
    CHECK(df_connector_powerbi.refresh != NULL && df_connector_powerbi.lineage != NULL);
}

int main(void)
{
    RUN(test_classify);
    RUN(test_count_query);
    RUN(test_count_parse);
    RUN(test_landed);
    RUN(test_backoff);
    RUN(test_config);
    RUN(test_kind);
    return df_test_done();
}
