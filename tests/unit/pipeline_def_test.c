/* pipeline_def: definitions are checked (schema, unique names, known
 * `after` names, no cycle, templates naming only steps waited for) with
 * the field path of the culprit; templates are filled in keeping the JSON
 * type of a whole-string template and as text inside longer strings, and a
 * missing value is an error naming the field, never a crash; a step's task
 * carries its pipeline fields and is validated; step task ids are derived
 * from (run, step, rerun) and can be traced back to their rerun. */
#include <string.h>

#include "df_id.h"
#include "df_test.h"
#include "pipeline_def.h"

/* A definition from relaxed JSON (single quotes for double quotes). */
static json_t *doc(const char *relaxed)
{
    char text[4096];
    json_error_t jerr;
    json_t *v;
    size_t i;

    for (i = 0; relaxed[i] && i + 1 < sizeof(text); i++)
        text[i] = relaxed[i] == '\'' ? '"' : relaxed[i];
    text[i] = '\0';
    v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        fprintf(stderr, "bad test JSON: %s: %s\n", jerr.text, text);
    REQUIRE(v != NULL);
    return v;
}

/* check() of a definition: the code, and the field when it failed. */
static df_code_t check(const char *relaxed, df_error_t *err)
{
    json_t *def = doc(relaxed);
    df_code_t rc;

    df_error_init(err);
    rc = df_pipeline_def_check(def, err);
    json_decref(def);
    return rc;
}

#define STEPT(name, type, extra) "{'name':'" name "','type':'" type "','connector':'noop'" extra "}"
#define STEP(name, extra)        STEPT(name, "export", extra)

static void test_valid_definitions(void)
{
    df_error_t err;

    CHECK_INT(check("{'steps':[" STEP("extract", "") "," STEP("refresh", "") "," STEP(
                        "lineage", ",'params':{'table':'${steps.extract.result.table}'}") "]}",
                    &err),
              DF_OK);
    CHECK_MSG(err.code == DF_OK, "%s at %s", err.message, err.field);
    /* a parallel group: b and c both wait for a; d waits for both */
    CHECK_INT(
        check("{'description':'fan out and in','steps':[" STEP("a", "") "," STEP(
                  "b",
                  ",'after':['a'"
                  "]") "," STEP("c", ",'after':['a'],'max_attempts':3,"
                                     "'deadline':'30m'") "," STEP("d", ",'after':['b','c'],'params'"
                                                                       ":{'x':'${steps.a.task_id} "
                                                                       "${steps.c.result}','r':'${"
                                                                       "run.id}'}") "]}",
              &err),
        DF_OK);
    CHECK_MSG(err.code == DF_OK, "%s at %s", err.message, err.field);
    /* steps may be listed in any order when `after` says so */
    CHECK_INT(
        check("{'steps':[" STEP("late", ",'after':['early']") "," STEP("early", ",'after':[]") "]}",
              &err),
        DF_OK);
    /* $${ is a literal, not a template */
    CHECK_INT(check("{'steps':[" STEP("a", ",'params':{'q':'cost $${not.a.template}'}") "]}", &err),
              DF_OK);
}

static void expect_invalid(const char *relaxed, const char *field, const char *words)
{
    df_error_t err;
    df_code_t rc = check(relaxed, &err);

    CHECK_INT(rc, DF_ERR_INVALID);
    CHECK_STR(err.field, field);
    CHECK_MSG(strstr(err.message, words) != NULL, "\"%s\" not in \"%s\"", words, err.message);
}

static void test_invalid_definitions(void)
{
    /* schema */
    expect_invalid("{'steps':[]}", "/steps", "");
    expect_invalid("{'steps':[{'name':'a','type':'export'}]}", "/steps/0/connector", "");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'auth':{'password':'x'}}") "]}",
                   "/steps/0/params/auth/password", "");
    expect_invalid("{'steps':[" STEP("A", "") "]}", "/steps/0/name", "");
    expect_invalid("{'steps':[" STEP("a", ",'deadline':'soon'") "]}", "/steps/0/deadline", "");
    expect_invalid("{'steps':[" STEP("a", ",'colour':'red'") "]}", "/steps/0/colour", "");
    /* names and order */
    expect_invalid("{'steps':[" STEP("a", "") "," STEP("a", "") "]}", "/steps/1/name",
                   "used twice");
    expect_invalid("{'steps':[" STEP("a", "") "," STEP("b", ",'after':['a','nope']") "]}",
                   "/steps/1/after/1", "no step is named \"nope\"");
    expect_invalid("{'steps':[" STEP("a", ",'after':['a']") "]}", "/steps/0/after/0",
                   "cannot wait for itself");
    /* a waits for c, b (implicitly) for a, c (implicitly) for b */
    expect_invalid(
        "{'steps':[" STEP("a", ",'after':['c']") "," STEP("b", "") "," STEP("c", "") "]}",
        "/steps/1", "cycle (a -> c -> b -> a");
    expect_invalid("{'steps':[" STEP("a", ",'after':['b']") "," STEP("b", ",'after':['a']") "]}",
                   "/steps/1/after/0", "cycle");
    /* templates */
    expect_invalid("{'steps':[" STEP("a", "") "," STEP("b", ",'after':['a']") "," STEP(
                       "c", ",'after':['a'],'params':{'x':['${steps.b.result}']}") "]}",
                   "/steps/2/params/x/0", "does not wait for step \"b\"");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'x':'${steps.a.result}'}") "]}",
                   "/steps/0/params/x", "does not wait for step \"a\"");
    expect_invalid(
        "{'steps':[" STEP("a", "") "," STEP("b", ",'params':{'x':'${steps.zz.result}'}") "]}",
        "/steps/1/params/x", "no step is named \"zz\"");
    expect_invalid(
        "{'steps':[" STEP("a", "") "," STEP("b", ",'params':{'x':'${steps.a.rows}'}") "]}",
        "/steps/1/params/x", "expected ${steps.a.result}");
    expect_invalid(
        "{'steps':[" STEP("a", "") "," STEP("b", ",'params':{'x':'${steps.a.task_id.x}'}") "]}",
        "/steps/1/params/x", "expected ${steps.a.result}");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'x':'${run.owner}'}") "]}",
                   "/steps/0/params/x", "${run.id}");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'x':'${env.HOME}'}") "]}",
                   "/steps/0/params/x", "${env...}");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'x':'${run.id'}") "]}", "/steps/0/params/x",
                   "without its closing");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'x':'${run..id}'}") "]}", "/steps/0/params/x",
                   "dot-separated");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'x':'${}'}") "]}", "/steps/0/params/x",
                   "dot-separated");
    expect_invalid("{'steps':[" STEP("a", ",'params':{'a/b':{'~k':'${run.x y}'}}") "]}",
                   "/steps/0/params/a~1b/~0k", "dot-separated");
}

static void test_after_and_normalize(void)
{
    json_t *def =
        doc("{'steps':[" STEP("a", "") "," STEP("b", "") "," STEP("c", ",'after':['a']") "]}");
    json_t *after, *norm;

    after = df_pipeline_def_after(def, 0);
    CHECK(json_is_array(after) && json_array_size(after) == 0);
    json_decref(after);
    after = df_pipeline_def_after(def, 1);
    CHECK(json_array_size(after) == 1 &&
          strcmp(json_string_value(json_array_get(after, 0)), "a") == 0);
    json_decref(after);
    CHECK(df_pipeline_def_after(def, 3) == NULL);
    norm = df_pipeline_def_normalize(def);
    REQUIRE(norm != NULL);
    CHECK_STR(json_string_value(json_array_get(
                  json_object_get(json_array_get(json_object_get(norm, "steps"), 1), "after"), 0)),
              "a");
    CHECK_STR(json_string_value(json_array_get(
                  json_object_get(json_array_get(json_object_get(norm, "steps"), 2), "after"), 0)),
              "a");
    CHECK(json_array_size(
              json_object_get(json_array_get(json_object_get(norm, "steps"), 0), "after")) == 0);
    /* the original is untouched */
    CHECK(json_object_get(json_array_get(json_object_get(def, "steps"), 1), "after") == NULL);
    json_decref(norm);
    json_decref(def);
}

static json_t *scope(void)
{
    return doc("{'steps':{'extract':{'task_id':'01J0000000000000000000000A','result':{'rows_"
               "written':1234,'table':'sales','ok':true,'ratio':0.5,'ids':[7,8],'meta':{'k':'v'},"
               "'none':null}},'quiet':{'task_id':'01J0000000000000000000000B','result':null}},"
               "'run':{'id':'01J00000000000000000000RUN','pipeline':'daily'}}");
}

/* Render one string value; returns the result (caller decrefs) or NULL. */
static json_t *render(const char *relaxed_value, df_error_t *err)
{
    json_t *sc = scope(), *v = doc(relaxed_value), *out;

    df_error_init(err);
    out = df_pipeline_render(v, sc, "/params", err);
    json_decref(sc);
    json_decref(v);
    return out;
}

static void test_render(void)
{
    df_error_t err;
    json_t *out;
    char *text;

    /* exactly one template: the value with its type */
    out = render("{'rows':'${steps.extract.result.rows_written}','meta':'${steps.extract.result."
                 "meta}','ok':'${steps.extract.result.ok}','id':'${steps.extract.result.ids.1}',"
                 "'none':'${steps.extract.result.none}','list':['${steps.quiet.result}', 5]}",
                 &err);
    REQUIRE(out != NULL);
    text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(text, "{\"id\":8,\"list\":[null,5],\"meta\":{\"k\":\"v\"},\"none\":null,\"ok\":true,"
                    "\"rows\":1234}");
    free(text);
    json_decref(out);

    /* inside longer strings: text */
    out = render("{'t':'wrote ${steps.extract.result.rows_written} rows to ${steps.extract.result."
                 "table} (${steps.extract.result.ratio}, ${steps.extract.result.ok}) in "
                 "${run.pipeline}/${run.id}','lit':'$${steps.x} and $$ and $5','plain':7}",
                 &err);
    REQUIRE(out != NULL);
    CHECK_STR(json_string_value(json_object_get(out, "t")),
              "wrote 1234 rows to sales (0.5, true) in daily/01J00000000000000000000RUN");
    CHECK_STR(json_string_value(json_object_get(out, "lit")), "${steps.x} and $$ and $5");
    CHECK_INT(json_integer_value(json_object_get(out, "plain")), 7);
    json_decref(out);

    /* missing values: errors naming the field and the value */
    CHECK(render("{'a':{'b':'${steps.extract.result.target_table}'}}", &err) == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_STR(err.field, "/params/a/b");
    CHECK_MSG(strstr(err.message, "steps.extract.result has no \"target_table\""), "%s",
              err.message);
    CHECK(render("{'a':['x', '${steps.other.result}']}", &err) == NULL);
    CHECK_STR(err.field, "/params/a/1");
    CHECK_MSG(strstr(err.message, "step other has not succeeded"), "%s", err.message);
    CHECK(render("{'a':'${steps.quiet.result.rows}'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "steps.quiet.result is null"), "%s", err.message);
    CHECK(render("{'a':'${steps.extract.result.rows_written.x}'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "is a number"), "%s", err.message);
    CHECK(render("{'a':'${steps.extract.result.ids.9}'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "has no \"9\""), "%s", err.message);
    CHECK(render("{'a':'${run.fire_time}'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "run has no \"fire_time\""), "%s", err.message);
    /* objects, arrays and null cannot go inside text */
    CHECK(render("{'a':'m=${steps.extract.result.meta}'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "is an object"), "%s", err.message);
    CHECK(render("{'a':'n=${steps.extract.result.none}'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "is null"), "%s", err.message);
    CHECK(render("{'a':'x ${run.id'}", &err) == NULL);
    CHECK_MSG(strstr(err.message, "without its closing"), "%s", err.message);
}

static void test_render_limit(void)
{
    json_t *sc = json_pack("{s:{}, s:{s:s}}", "steps", "run", "id", "");
    char *big = malloc(DF_PIPELINE_TEXT_MAX);
    json_t *run, *v, *out;
    df_error_t err;

    REQUIRE(sc && big);
    memset(big, 'x', DF_PIPELINE_TEXT_MAX - 1);
    big[DF_PIPELINE_TEXT_MAX - 1] = '\0';
    run = json_object_get(sc, "run");
    json_object_set_new(run, "id", json_string(big + 10));
    v = json_string("0123456789 ${run.id}");
    df_error_init(&err);
    out = df_pipeline_render(v, sc, "/params/q", &err);
    CHECK(out == NULL);
    CHECK_STR(err.field, "/params/q");
    CHECK_MSG(strstr(err.message, "over"), "%s", err.message);
    json_decref(v);
    json_decref(sc);
    free(big);
}

static void test_step_task(void)
{
    json_t *def = doc("{'steps':[" STEP("extract", ",'params':{'rows':12}") "," STEPT(
        "refresh", "refresh",
        ",'max_attempts':4,'deadline':'90s','ordering_key':'k1',"
        "'labels':{'team':'bi'},'params':{'rows':'${steps.extract.result.rows_written}',"
        "'note':'after ${steps.extract.task_id}'}") "]}");
    json_t *sc = doc("{'steps':{'extract':{'task_id':'01J0000000000000000000000A','result':{"
                     "'rows_written':12}}},'run':{'id':'01J00000000000000000000RUN',"
                     "'pipeline':'daily'}}");
    const json_t *step = json_array_get(json_object_get(def, "steps"), 1);
    char run_id[DF_ID_BUF], task_id[DF_ID_BUF], when[40];
    json_t *task;
    df_error_t err;

    df_id_ulid(run_id);
    REQUIRE(df_pipeline_step_task_id(run_id, "refresh", 0, task_id));
    df_error_init(&err);
    task =
        df_pipeline_step_task(step, sc, run_id, task_id, "daily", "sched-1", 1700000000000LL, &err);
    CHECK_MSG(task != NULL, "%s at %s", err.message, err.field);
    if (task) {
        CHECK_STR(json_string_value(json_object_get(task, "task_id")), task_id);
        CHECK_STR(json_string_value(json_object_get(task, "type")), "refresh");
        CHECK_STR(json_string_value(json_object_get(task, "connector")), "noop");
        CHECK_INT(json_integer_value(json_object_get(json_object_get(task, "params"), "rows")), 12);
        CHECK_STR(json_string_value(json_object_get(json_object_get(task, "params"), "note")),
                  "after 01J0000000000000000000000A");
        CHECK_STR(json_string_value(json_object_get(json_object_get(task, "pipeline"), "run_id")),
                  run_id);
        CHECK_STR(json_string_value(json_object_get(json_object_get(task, "pipeline"), "step")),
                  "refresh");
        CHECK_STR(json_string_value(json_object_get(task, "submitted_by")), "pipeline:daily");
        CHECK_STR(json_string_value(json_object_get(task, "schedule_id")), "sched-1");
        CHECK_STR(json_string_value(json_object_get(task, "ordering_key")), "k1");
        CHECK_INT(json_integer_value(json_object_get(task, "max_attempts")), 4);
        CHECK_INT(json_integer_value(json_object_get(task, "attempt")), 1);
        CHECK_STR(json_string_value(json_object_get(json_object_get(task, "labels"), "team")),
                  "bi");
        df_time_format(1700000000000LL + 90000, when, sizeof(when));
        CHECK_STR(json_string_value(json_object_get(task, "deadline")), when);
        CHECK(json_object_get(task, "submitted_at") != NULL);
    }
    json_decref(task);

    /* a filled-in value the task schema refuses fails naming the field */
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(sc, "steps"), "extract"), "result"),
        "rows_written", json_string("twelve"));
    df_error_init(&err);
    task = df_pipeline_step_task(step, sc, run_id, task_id, "daily", NULL, 1700000000000LL, &err);
    CHECK(task == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK_STR(err.field, "/params/rows");
    json_decref(task);

    /* a template naming a missing value fails, naming it */
    json_object_del(json_object_get(json_object_get(sc, "steps"), "extract"), "result");
    df_error_init(&err);
    task = df_pipeline_step_task(step, sc, run_id, task_id, "daily", NULL, 1700000000000LL, &err);
    CHECK(task == NULL);
    CHECK_STR(err.field, "/params/rows");
    CHECK_MSG(strstr(err.message, "step extract has no result"), "%s", err.message);
    json_decref(sc);
    json_decref(def);
}

static void test_task_ids(void)
{
    char run[DF_ID_BUF], a0[DF_ID_BUF], a0b[DF_ID_BUF], a1[DF_ID_BUF], b0[DF_ID_BUF];
    const char *uuid = "01890a5d-ac96-774b-bcce-b302099a8057";

    df_id_ulid(run);
    CHECK(df_pipeline_run_id_valid(run));
    CHECK(df_pipeline_step_task_id(run, "a", 0, a0));
    CHECK(df_pipeline_step_task_id(run, "a", 0, a0b));
    CHECK(df_pipeline_step_task_id(run, "a", 1, a1));
    CHECK(df_pipeline_step_task_id(run, "b", 0, b0));
    CHECK_STR(a0, a0b); /* deterministic: a double publish is one task */
    CHECK(strcmp(a0, a1) != 0 && strcmp(a0, b0) != 0 && strcmp(a1, b0) != 0);
    CHECK(df_id_valid(a0) && strlen(a0) == DF_ULID_LEN);
    CHECK(strncmp(a0, run, 10) == 0); /* the run's time */
    CHECK_INT(df_pipeline_step_rerun(run, "a", a0), 0);
    CHECK_INT(df_pipeline_step_rerun(run, "a", a1), 1);
    CHECK_INT(df_pipeline_step_rerun(run, "b", a1), -1);
    CHECK_INT(df_pipeline_step_rerun(run, "a", "01J0000000000000000000000A"), -1);
    CHECK(df_pipeline_step_task_id(run, "a", DF_PIPELINE_RERUNS_MAX - 1, a1));
    CHECK_INT(df_pipeline_step_rerun(run, "a", a1), DF_PIPELINE_RERUNS_MAX - 1);

    CHECK(df_pipeline_run_id_valid(uuid));
    CHECK(df_pipeline_step_task_id(uuid, "a", 0, a0));
    CHECK(strncmp(a0, "01H4", 4) == 0); /* 0x01890a5dac96 ms is in 2023 */
    CHECK(!df_pipeline_run_id_valid("01890A5D-AC96-774B-BCCE-B302099A8057"));
    CHECK(!df_pipeline_run_id_valid("01890a5d-ac96-474b-bcce-b302099a8057")); /* v4 */
    CHECK(!df_pipeline_run_id_valid("81J0000000000000000000000A"));           /* overflow */
    CHECK(!df_pipeline_run_id_valid("01J0000000000000000000000"));
    CHECK(!df_pipeline_run_id_valid("run-1"));
    CHECK(!df_pipeline_run_id_valid(NULL));
    CHECK(!df_pipeline_step_task_id("run-1", "a", 0, a0));
}

int main(void)
{
    RUN(test_valid_definitions);
    RUN(test_invalid_definitions);
    RUN(test_after_and_normalize);
    RUN(test_render);
    RUN(test_render_limit);
    RUN(test_step_task);
    RUN(test_task_ids);
    return df_test_done();
}
