/* url_test: parsing of the connection settings that need no server: Redis
 * URLs (forms, errors, redaction), libpq URL errors without the password,
 * Kafka extra properties and topic names, and the SHA-1 behind EVALSHA. */
#include <string.h>

#include "df_kafka.h"
#include "df_pg.h"
#include "df_redis.h"
#include "df_test.h"

static df_redis_url_t parse_ok(const char *url)
{
    df_redis_url_t u;
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_redis_url_parse(url, &u, &err) == DF_OK, "%s: %s", url, err.message);
    return u;
}

/* Parse must fail with code, and neither the message nor the field may
 * contain secret. */
static void parse_fails(const char *url, df_code_t code, const char *secret)
{
    df_redis_url_t u;
    df_error_t err;

    df_error_init(&err);
    CHECK_MSG(df_redis_url_parse(url, &u, &err) == code, "%s: got %s (%s)", url,
              df_code_name(err.code), err.message);
    CHECK_MSG(err.message[0] != '\0', "%s: no message", url);
    if (secret) {
        CHECK_MSG(!strstr(err.message, secret), "%s: message shows the password: %s", url,
                  err.message);
        CHECK(!strstr(err.field, secret));
    }
}

static void test_redis_url_forms(void)
{
    df_redis_url_t u;

    u = parse_ok("redis://127.0.0.1:26379/0");
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 26379);
    CHECK_INT(u.db, 0);
    CHECK_STR(u.password, "");
    CHECK_STR(u.path, "");

    u = parse_ok("redis://cache.internal");
    CHECK_STR(u.host, "cache.internal");
    CHECK_INT(u.port, DF_REDIS_PORT_DEFAULT);
    CHECK_INT(u.db, 0);

    u = parse_ok("redis://:s3cret@10.0.0.5:6380/3");
    CHECK_STR(u.host, "10.0.0.5");
    CHECK_INT(u.port, 6380);
    CHECK_INT(u.db, 3);
    CHECK_STR(u.username, "");
    CHECK_STR(u.password, "s3cret");

    u = parse_ok("redis://fleet:p%40ss%2Fw0rd@host/7");
    CHECK_STR(u.username, "fleet");
    CHECK_STR(u.password, "p@ss/w0rd");
    CHECK_INT(u.db, 7);

    /* A lone userinfo is the password; an unescaped '@' in it still works. */
    u = parse_ok("redis://pa@ss@host:1");
    CHECK_STR(u.password, "pa@ss");
    CHECK_STR(u.host, "host");
    CHECK_INT(u.port, 1);

    u = parse_ok("redis://[::1]:6379/2");
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 6379);
    CHECK_INT(u.db, 2);

    u = parse_ok("redis://host/");
    CHECK_INT(u.db, 0);

    u = parse_ok("unix:///run/redis/redis.sock");
    CHECK_STR(u.path, "/run/redis/redis.sock");
    CHECK_STR(u.host, "");
    CHECK_INT(u.db, 0);

    u = parse_ok("unix://:pw@/tmp/r.sock?db=4");
    CHECK_STR(u.path, "/tmp/r.sock");
    CHECK_STR(u.password, "pw");
    CHECK_INT(u.db, 4);
}

static void test_redis_url_errors(void)
{
    parse_fails("", DF_ERR_INVALID, NULL);
    parse_fails("http://host:6379", DF_ERR_INVALID, NULL);
    parse_fails("127.0.0.1:6379", DF_ERR_INVALID, NULL);
    parse_fails("rediss://host:6380", DF_ERR_UNSUPPORTED, NULL);
    parse_fails("redis://", DF_ERR_INVALID, NULL);
    parse_fails("redis://:topsecret@", DF_ERR_INVALID, "topsecret");
    parse_fails("redis://:topsecret@host:99999", DF_ERR_INVALID, "topsecret");
    parse_fails("redis://:topsecret@host:12ab", DF_ERR_INVALID, "topsecret");
    parse_fails("redis://:topsecret@host:6379/x", DF_ERR_INVALID, "topsecret");
    parse_fails("redis://:topsecret@host:6379/0?timeout=1", DF_ERR_INVALID, "topsecret");
    parse_fails("redis://:top%zzsecret@host", DF_ERR_INVALID, "top");
    parse_fails("redis://:topsecret@[::1:6379", DF_ERR_INVALID, "topsecret");
    /* A '#' inside an unescaped password cuts the host part short: the
     * leftover must not be echoed as a bad port. */
    parse_fails("redis://:top#secret@host:6379", DF_ERR_INVALID, "top");
    parse_fails("unix://relative/path.sock", DF_ERR_INVALID, NULL);
    parse_fails("unix://:topsecret@/tmp/r.sock?db=x", DF_ERR_INVALID, "topsecret");
}

static void test_redis_url_format_redacts(void)
{
    df_redis_url_t u = parse_ok("redis://fleet:hunter22@h:1/2");
    char buf[256];

    df_redis_url_format(&u, buf, sizeof(buf));
    CHECK_STR(buf, "redis://fleet:***@h:1/2");

    u = parse_ok("redis://127.0.0.1:26379");
    df_redis_url_format(&u, buf, sizeof(buf));
    CHECK_STR(buf, "redis://127.0.0.1:26379/0");

    u = parse_ok("redis://[::1]");
    df_redis_url_format(&u, buf, sizeof(buf));
    CHECK_STR(buf, "redis://[::1]:6379/0");

    u = parse_ok("unix://:hunter22@/tmp/r.sock?db=3");
    df_redis_url_format(&u, buf, sizeof(buf));
    CHECK_STR(buf, "unix://:***@/tmp/r.sock?db=3");
}

static void test_redis_script_sha1(void)
{
    static const struct {
        size_t len;
        const char *sha1;
    } cases[] = {
        { 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" },
        { 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699" },
        { 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" },
        { 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56" },
    };
    char text[128];
    df_redis_script_t script;
    size_t i;

    df_redis_script_init(&script, "");
    CHECK_STR(script.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    df_redis_script_init(&script, "abc");
    CHECK_STR(script.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    /* What Redis answers to SCRIPT LOAD "return 1". */
    df_redis_script_init(&script, "return 1");
    CHECK_STR(script.sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(text, 'a', cases[i].len);
        text[cases[i].len] = '\0';
        df_redis_script_init(&script, text);
        CHECK_STR(script.sha1, cases[i].sha1);
    }
}

/* libpq quotes a malformed URL in its message: the password must be gone. */
static void test_pg_bad_url_hides_password(void)
{
    static const char *const urls[] = {
        "postgresql://fleet:Pg-s3cret-77@[::1/datafleet",
        "postgresql://fleet:Pg-s3cret-77@host:5432/db?bogus_option=1",
        "host=127.0.0.1 password=Pg-s3cret-77 port",
        "host=127.0.0.1 password='Pg-s3cret-77' dbname='unterminated",
    };
    size_t i;

    for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        df_error_t err;
        df_pg_t *pg;

        df_error_init(&err);
        pg = df_pg_new(urls[i], &err);
        CHECK(pg == NULL);
        CHECK_MSG(err.code == DF_ERR_INVALID, "%s: %s", urls[i], df_code_name(err.code));
        CHECK_MSG(err.message[0] != '\0', "no message");
        CHECK_MSG(!strstr(err.message, "Pg-s3cret-77"), "password in message: %s", err.message);
        df_pg_destroy(pg);
    }

    /* A short password is masked inside the quoted URL, and only there. */
    {
        df_error_t err;
        df_pg_t *pg;

        df_error_init(&err);
        pg = df_pg_new("postgresql://fleet:ab@[::1/datafleet", &err);
        CHECK(pg == NULL);
        CHECK_MSG(strstr(err.message, "postgresql://fleet:***@[::1/datafleet") != NULL, "%s",
                  err.message);
        CHECK_MSG(strstr(err.message, "reached") != NULL, "%s", err.message);
    }
    df_pg_destroy(NULL);
}

static void test_kafka_props(void)
{
    df_kafka_config_t cfg;
    df_error_t err;

    df_kafka_config_init(&cfg);
    df_error_init(&err);
    CHECK_STR(cfg.prefix, "datafleet.");
    CHECK_INT(cfg.partitions, 12);
    CHECK_INT(df_kafka_config_check(&cfg, &err), DF_OK);

    CHECK_INT(df_kafka_config_add_prop(&cfg, " linger.ms = 20 ", &err), DF_OK);
    CHECK_INT(cfg.nprops, 1);
    CHECK_STR(cfg.props[0].key, "linger.ms");
    CHECK_STR(cfg.props[0].value, "20");

    CHECK_INT(df_kafka_config_add_props(&cfg,
                                        "debug=broker,topic; # a comment\n"
                                        "sasl.password=a=b;;linger.ms=50\n",
                                        &err),
              DF_OK);
    CHECK_INT(cfg.nprops, 3);
    CHECK_STR(cfg.props[0].value, "50"); /* replaced, not appended */
    CHECK_STR(cfg.props[1].key, "debug");
    CHECK_STR(cfg.props[1].value, "broker,topic");
    CHECK_STR(cfg.props[2].key, "sasl.password");
    CHECK_STR(cfg.props[2].value, "a=b");

    CHECK_INT(df_kafka_config_add_prop(&cfg, "no-equals-sign", &err), DF_ERR_INVALID);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "=value", &err), DF_ERR_INVALID);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "bad key=1", &err), DF_ERR_INVALID);
    CHECK_INT(cfg.nprops, 3);

    /* librdkafka rejects the value: the error names the key, and for a
     * secret property does not show the value. */
    df_kafka_config_init(&cfg);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "linger.ms=soon", &err), DF_OK);
    CHECK(df_kafka_conf_new(&cfg, NULL, &err) == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "linger.ms") != NULL, "%s", err.message);

    df_kafka_config_init(&cfg);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "ssl.key.password=Kf-s3cret-99", &err), DF_OK);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "no.such.property.anywhere=1", &err), DF_OK);
    CHECK(df_kafka_conf_new(&cfg, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.message, "no.such.property.anywhere") != NULL, "%s", err.message);
    CHECK(!strstr(err.message, "Kf-s3cret-99"));

    /* librdkafka quotes a rejected value in its message: not for secrets. */
    df_kafka_config_init(&cfg);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "sasl.oauthbearer.method=Kf-s3cret-99", &err), DF_OK);
    CHECK(df_kafka_conf_new(&cfg, NULL, &err) == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "sasl.oauthbearer.method") != NULL, "%s", err.message);
    CHECK_MSG(!strstr(err.message, "Kf-s3cret-99"), "%s", err.message);

    df_kafka_config_init(&cfg);
    CHECK_INT(df_kafka_config_add_prop(&cfg, "sasl.mechanisms=NOT-A-MECHANISM-Kf-77", &err), DF_OK);
    {
        rd_kafka_conf_t *conf = df_kafka_conf_new(&cfg, NULL, &err);
        /* sasl.mechanisms is checked later by librdkafka; either way no
         * crash and no leak. */
        if (conf)
            rd_kafka_conf_destroy(conf);
    }
}

static void test_kafka_topics(void)
{
    df_kafka_config_t cfg;
    df_error_t err;
    df_kafka_topic_t topic;
    char name[DF_KAFKA_TOPIC_MAX];
    char tiny[8];

    df_kafka_config_init(&cfg);
    df_error_init(&err);
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_TASKS_EXPORT, name, sizeof(name), &err),
              DF_OK);
    CHECK_STR(name, "datafleet.tasks.export");
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_TASKS_REFRESH, name, sizeof(name), &err),
              DF_OK);
    CHECK_STR(name, "datafleet.tasks.refresh");
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_TASKS_LINEAGE, name, sizeof(name), &err),
              DF_OK);
    CHECK_STR(name, "datafleet.tasks.lineage");
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_EVENTS, name, sizeof(name), &err), DF_OK);
    CHECK_STR(name, "datafleet.events");
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_DLQ, name, sizeof(name), &err), DF_OK);
    CHECK_STR(name, "datafleet.dlq");
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_DLQ, tiny, sizeof(tiny), &err),
              DF_ERR_INVALID);
    CHECK_INT(
        df_kafka_topic_name(&cfg, (df_kafka_topic_t)DF_KAFKA_TOPIC_COUNT, name, sizeof(name), &err),
        DF_ERR_INVALID);

    snprintf(cfg.prefix, sizeof(cfg.prefix), "staging-");
    CHECK_INT(df_kafka_topic_name(&cfg, DF_KAFKA_TOPIC_EVENTS, name, sizeof(name), &err), DF_OK);
    CHECK_STR(name, "staging-events");

    snprintf(cfg.prefix, sizeof(cfg.prefix), "bad prefix/");
    CHECK_INT(df_kafka_config_check(&cfg, &err), DF_ERR_INVALID);
    df_kafka_config_init(&cfg);
    cfg.partitions = 0;
    CHECK_INT(df_kafka_config_check(&cfg, &err), DF_ERR_INVALID);

    CHECK(df_kafka_topic_for_task_type("export", &topic) && topic == DF_KAFKA_TOPIC_TASKS_EXPORT);
    CHECK(df_kafka_topic_for_task_type("refresh", &topic) && topic == DF_KAFKA_TOPIC_TASKS_REFRESH);
    CHECK(df_kafka_topic_for_task_type("lineage", &topic) && topic == DF_KAFKA_TOPIC_TASKS_LINEAGE);
    CHECK(df_kafka_topic_for_task_type("probe", &topic) && topic == DF_KAFKA_TOPIC_TASKS_REFRESH);
    CHECK(!df_kafka_topic_for_task_type("Export", &topic));
    CHECK(!df_kafka_topic_for_task_type(NULL, &topic));
}

static void test_kafka_errors(void)
{
    df_error_t err;

    df_error_init(&err);
    CHECK_INT(df_kafka_error_from_code(&err, RD_KAFKA_RESP_ERR_NO_ERROR, "x"), DF_OK);
    CHECK_INT(err.code, DF_OK);
    CHECK_INT(df_kafka_error_from_code(&err, RD_KAFKA_RESP_ERR__TRANSPORT, "produce"),
              DF_ERR_KAFKA);
    CHECK(err.retryable);
    CHECK_STR(err.field, "produce");
    CHECK_MSG(strstr(err.message, "_TRANSPORT") != NULL, "%s", err.message);
    CHECK_INT(df_kafka_error_from_code(&err, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, "p"),
              DF_ERR_KAFKA);
    CHECK(!err.retryable);

    CHECK_INT(df_kafka_error_from(&err, NULL, "x"), DF_OK);
    CHECK_INT(
        df_kafka_error_from(
            &err, rd_kafka_error_new(RD_KAFKA_RESP_ERR__STATE, "in %s", "a bad state"), "assign"),
        DF_ERR_KAFKA);
    CHECK_MSG(strstr(err.message, "in a bad state") != NULL, "%s", err.message);
    CHECK(!err.retryable);
}

int main(void)
{
    RUN(test_redis_url_forms);
    RUN(test_redis_url_errors);
    RUN(test_redis_url_format_redacts);
    RUN(test_redis_script_sha1);
    RUN(test_pg_bad_url_hides_password);
    RUN(test_kafka_props);
    RUN(test_kafka_topics);
    RUN(test_kafka_errors);
    return df_test_done();
}
