/* ready_test: the /readyz check (df_ready) against the real stack: ready
 * when Kafka, Redis and PostgreSQL answer; not ready, naming the first that
 * does not, when one is unreachable; never a credential in the reason. */
#include <string.h>

#include "df_config.h"
#include "df_ready.h"
#include "df_test.h"

static df_common_config_t stack(void)
{
    df_common_config_t c = { 0 };
    c.kafka_brokers = (char *)df_test_env("DATAFLEET_KAFKA_BROKERS");
    c.redis_url = (char *)df_test_env("DATAFLEET_REDIS_URL");
    c.database_url = (char *)df_test_env("DATAFLEET_DATABASE_URL");
    return c;
}

static void test_ready(void)
{
    df_common_config_t c = stack();
    df_ready_needs_t needs = { .common = &c, .kafka = true, .redis = true, .postgres = true };
    char why[256] = "x";

    CHECK(df_ready_check(&needs, why, sizeof(why)));
    CHECK_STR(why, "");
}

static void test_not_ready(void)
{
    df_common_config_t c = stack();
    df_ready_needs_t needs = { .common = &c, .kafka = true, .redis = true, .postgres = true };
    char why[256];

    c.kafka_brokers = "127.0.0.1:1";
    CHECK(!df_ready_check(&needs, why, sizeof(why)));
    CHECK(strncmp(why, "kafka: ", 7) == 0);

    c = stack();
    c.redis_url = "redis://127.0.0.1:1/0";
    CHECK(!df_ready_check(&needs, why, sizeof(why)));
    CHECK(strncmp(why, "redis: ", 7) == 0);

    c = stack();
    c.database_url = "postgresql://datafleet:hunter2-secret@127.0.0.1:1/datafleet";
    CHECK(!df_ready_check(&needs, why, sizeof(why)));
    CHECK(strncmp(why, "postgres: ", 10) == 0);
    CHECK(strstr(why, "hunter2-secret") == NULL);

    /* What is not needed is not probed. */
    needs.postgres = false;
    CHECK(df_ready_check(&needs, why, sizeof(why)));
}

int main(void)
{
    RUN(test_ready);
    RUN(test_not_ready);
    return df_test_done();
}
