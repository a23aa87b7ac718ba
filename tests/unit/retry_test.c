/* retry: the retry policy (kind defaults, per-type defaults, a connector's
 * `retry` and its `by_type`, field by field), the full-jitter wait with an
 * injected random source (its bounds, doubling, cap, Retry-After as a
 * floor), the effective attempts, and the registry's policies from a
 * connectors file (including a cap below the base refused at load). */
#include <stdlib.h>
#include <unistd.h>

#include "df_test.h"
#include "registry.h"
#include "retry.h"

/* A random source that returns a fixed sequence. */
typedef struct fixed {
    const uint64_t *values;
    size_t n, next;
} fixed_t;

static uint64_t fixed_random(void *state)
{
    fixed_t *f = state;
    uint64_t v = f->values[f->next % f->n];
    f->next++;
    return v;
}

static uint64_t max_random(void *state)
{
    (void)state;
    return UINT64_MAX;
}

static uint64_t zero_random(void *state)
{
    (void)state;
    return 0;
}

static void test_wait_bounds(void)
{
    df_retry_policy_t p = { .base_ms = 100, .cap_ms = 1000, .max_attempts = 10 };

    /* random 0: the low end; no hint: 0 */
    CHECK_INT(df_retry_wait_ms(&p, 1, -1, zero_random, NULL), 0);
    /* the ceiling doubles: base * 2^(n-1), reached by a random that is
     * ceiling mod (ceiling + 1) */
    {
        uint64_t v[] = { 100, 200, 400, 800 };
        fixed_t f = { v, 4, 0 };
        CHECK_INT(df_retry_wait_ms(&p, 1, -1, fixed_random, &f), 100);
        CHECK_INT(df_retry_wait_ms(&p, 2, -1, fixed_random, &f), 200);
        CHECK_INT(df_retry_wait_ms(&p, 3, -1, fixed_random, &f), 400);
        CHECK_INT(df_retry_wait_ms(&p, 4, -1, fixed_random, &f), 800);
    }
    /* one more than the ceiling wraps to 0: the range is [0, ceiling] */
    {
        uint64_t v[] = { 101, 201 };
        fixed_t f = { v, 2, 0 };
        CHECK_INT(df_retry_wait_ms(&p, 1, -1, fixed_random, &f), 0);
        CHECK_INT(df_retry_wait_ms(&p, 2, -1, fixed_random, &f), 0);
    }
    /* the cap: attempt 5 would be 1600, attempt 60 would overflow */
    {
        uint64_t v[] = { 1000, 1000 };
        fixed_t f = { v, 2, 0 };
        CHECK_INT(df_retry_wait_ms(&p, 5, -1, fixed_random, &f), 1000);
        CHECK_INT(df_retry_wait_ms(&p, 60, -1, fixed_random, &f), 1000);
    }
    CHECK(df_retry_wait_ms(&p, 1000, -1, max_random, NULL) <= 1000);
    /* a cap below the base: the cap wins */
    {
        df_retry_policy_t low = { .base_ms = 500, .cap_ms = 50, .max_attempts = 3 };
        uint64_t v[] = { 50 };
        fixed_t f = { v, 1, 0 };
        CHECK_INT(df_retry_wait_ms(&low, 1, -1, fixed_random, &f), 50);
    }
}

static void test_wait_retry_after_floor(void)
{
    df_retry_policy_t p = { .base_ms = 100, .cap_ms = 1000, .max_attempts = 10 };
    uint64_t v[] = { 80 };
    fixed_t f = { v, 1, 0 };

    /* the platform's Retry-After raises a shorter jitter... */
    CHECK_INT(df_retry_wait_ms(&p, 1, 5000, fixed_random, &f), 5000);
    /* ...and never lowers a longer one */
    CHECK_INT(df_retry_wait_ms(&p, 1, 30, fixed_random, &f), 80);
    /* Retry-After 0 ("now") is a hint too, not "no hint" */
    CHECK_INT(df_retry_wait_ms(&p, 1, 0, fixed_random, &f), 80);
    CHECK_INT(df_retry_wait_ms(&p, 1, 0, zero_random, NULL), 0);
}

static void test_wait_is_uniform_enough(void)
{
    df_retry_policy_t p = { .base_ms = 1000, .cap_ms = 60000, .max_attempts = 10 };
    uint64_t state = 12345;
    int low = 0, high = 0;

    /* the real generator: every draw in range, both halves used */
    for (int i = 0; i < 2000; i++) {
        int64_t w = df_retry_wait_ms(&p, 2, -1, df_retry_random, &state);
        CHECK(w >= 0 && w <= 2000);
        if (w < 1000)
            low++;
        else
            high++;
    }
    CHECK(low > 800 && high > 800);
    state = df_retry_seed();
    CHECK(state != 0);
}

static void test_resolve(void)
{
    df_retry_defaults_t kind = {
        .all = { .base_ms = 1000, .cap_ms = 60000, .max_attempts = 10 },
        .by_type = { [DF_RETRY_REFRESH] = { .base_ms = 30000, .max_attempts = 4 } },
    };
    df_retry_policy_t p;
    json_t *conn;

    df_retry_policy_resolve(&kind, NULL, "export", &p);
    CHECK_INT(p.base_ms, 1000);
    CHECK_INT(p.cap_ms, 60000);
    CHECK_INT(p.max_attempts, 10);
    df_retry_policy_resolve(&kind, NULL, "refresh", &p);
    CHECK_INT(p.base_ms, 30000);
    CHECK_INT(p.cap_ms, 60000); /* inherited from `all` */
    CHECK_INT(p.max_attempts, 4);

    conn = json_loads("{\"base_ms\": 20, \"by_type\": {\"refresh\": {\"cap_ms\": 500},"
                      " \"probe\": {\"max_attempts\": 1}}}",
                      0, NULL);
    REQUIRE(conn != NULL);
    df_retry_policy_resolve(&kind, conn, "export", &p);
    CHECK_INT(p.base_ms, 20);
    CHECK_INT(p.cap_ms, 60000);
    CHECK_INT(p.max_attempts, 10);
    /* the connector's base beats the kind's refresh base; its by_type
     * refresh sets the cap; the kind's refresh attempts stay */
    df_retry_policy_resolve(&kind, conn, "refresh", &p);
    CHECK_INT(p.base_ms, 20);
    CHECK_INT(p.cap_ms, 500);
    CHECK_INT(p.max_attempts, 4);
    df_retry_policy_resolve(&kind, conn, "probe", &p);
    CHECK_INT(p.max_attempts, 1);
    /* no type: `all` only */
    df_retry_policy_resolve(&kind, conn, NULL, &p);
    CHECK_INT(p.base_ms, 20);
    CHECK_INT(p.max_attempts, 10);
    json_decref(conn);

    /* no kind defaults: the fallback */
    df_retry_policy_resolve(NULL, NULL, "export", &p);
    CHECK_INT(p.base_ms, df_retry_fallback.all.base_ms);
    CHECK_INT(p.cap_ms, df_retry_fallback.all.cap_ms);
    CHECK_INT(p.max_attempts, df_retry_fallback.all.max_attempts);
}

static void test_max_attempts(void)
{
    df_retry_policy_t p = { .base_ms = 1, .cap_ms = 1, .max_attempts = 5 };

    CHECK_INT(df_retry_max_attempts(&p, 3), 3);
    CHECK_INT(df_retry_max_attempts(&p, 9), 5);
    CHECK_INT(df_retry_max_attempts(&p, 0), 1);
    p.max_attempts = 0; /* unset: the task decides */
    CHECK_INT(df_retry_max_attempts(&p, 9), 9);
}

static void test_registry_policies(void)
{
    char dir[] = "/tmp/df-retry-XXXXXX";
    char path[256];
    df_connector_def_t def;
    df_retry_policy_t p;
    df_error_t err;
    FILE *f;

    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/connectors.json", dir);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("[{\"name\":\"fast\",\"kind\":\"noop\",\"retry\":{\"base_ms\":10,\"cap_ms\":40,"
          "\"by_type\":{\"refresh\":{\"max_attempts\":2}}}}]",
          f);
    fclose(f);
    df_error_init(&err);
    CHECK_INT(df_registry_load_file(path, &err), DF_OK);
    CHECK(df_registry_find("fast", &def));
    df_registry_retry_policy(&def, "export", &p);
    CHECK_INT(p.base_ms, 10);
    CHECK_INT(p.cap_ms, 40);
    CHECK_INT(p.max_attempts, 100); /* noop's default */
    df_registry_retry_policy(&def, "refresh", &p);
    CHECK_INT(p.max_attempts, 2);
    df_registry_release(&def);

    /* the built-in noop connector: the kind's defaults */
    CHECK(df_registry_find("noop", &def));
    df_registry_retry_policy(&def, "export", &p);
    CHECK_INT(p.base_ms, 100);
    CHECK_INT(p.cap_ms, 10000);
    /* a kind's per-type defaults */
    df_retry_policy_resolve(df_registry_kind_retry("powerbi"), NULL, "refresh", &p);
    CHECK_INT(p.base_ms, 30000);
    df_retry_policy_resolve(df_registry_kind_retry("powerbi"), NULL, "export", &p);
    CHECK_INT(p.base_ms, 1000);
    CHECK(df_registry_kind_retry("databricks") == &df_retry_fallback);

    /* a cap below the base is refused, naming where */
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("[{\"name\":\"odd\",\"kind\":\"noop\",\"retry\":{\"by_type\":{\"export\":"
          "{\"base_ms\":500,\"cap_ms\":100}}}}]",
          f);
    fclose(f);
    df_error_init(&err);
    CHECK_INT(df_registry_load_file(path, &err), DF_ERR_INVALID);
    CHECK_STR(err.field, "/odd/retry/by_type/export");
    CHECK_MSG(strstr(err.message, "cap_ms (100) is below base_ms (500)") != NULL, "%s",
              err.message);
    /* and a schema error names the path */
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("[{\"name\":\"odd\",\"kind\":\"noop\",\"retry\":{\"base\":5}}]", f);
    fclose(f);
    df_error_init(&err);
    CHECK_INT(df_registry_load_file(path, &err), DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "/retry") != NULL, "%s", err.message);
    df_registry_clear();
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RUN(test_wait_bounds);
    RUN(test_wait_retry_after_floor);
    RUN(test_wait_is_uniform_enough);
    RUN(test_resolve);
    RUN(test_max_attempts);
    RUN(test_registry_policies);
    return df_test_done();
}
