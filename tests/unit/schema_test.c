/* schema_test: df_schema against the contracts and their examples
 * (schemas/examples/{valid,invalid}/<contract>/, each invalid example with
 * a .expect file naming the JSON path the first error must start with), and
 * each implemented keyword on small inline schemas.
 *
 * Inline JSON is written with ' for " to stay readable; see json(). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df_build.h"
#include "df_schema.h"
#include "df_test.h"

static const char *source_dir(void)
{
    const char *dir = getenv("DF_SOURCE_DIR");
    return dir && *dir ? dir : DF_SOURCE_DIR;
}

/* Parse text with ' standing for " (a real ' is never needed here). */
static json_t *json(const char *text)
{
    char buf[8192];
    json_error_t jerr;
    size_t n = strlen(text);
    json_t *doc;

    REQUIRE(n < sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    doc = json_loads(buf, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!doc)
        fprintf(stderr, "bad test JSON %s: %s\n", buf, jerr.text);
    REQUIRE(doc != NULL);
    return doc;
}

static df_schema_t *load(int line, const char *schema_text)
{
    json_t *doc = json(schema_text);
    df_error_t err;
    df_schema_t *schema;

    df_error_init(&err);
    schema = df_schema_load(doc, &err);
    json_decref(doc);
    CHECK_MSG(schema != NULL, "line %d: schema %s refused: %s (%s)", line, schema_text, err.message,
              err.field);
    return schema;
}

static void check_valid(int line, const char *schema_text, const char *instance_text)
{
    df_schema_t *schema = load(line, schema_text);
    json_t *instance = json(instance_text);
    df_error_t err;

    df_error_init(&err);
    if (schema) {
        CHECK_MSG(df_schema_validate(schema, instance, &err), "line %d: %s should be valid: %s: %s",
                  line, instance_text, err.field, err.message);
        CHECK_MSG(df_schema_validate(schema, instance, NULL), "line %d: verdict-only run", line);
        CHECK_INT(df_schema_validate_all(schema, instance, &err, 1), 0);
    }
    json_decref(instance);
    df_schema_destroy(schema);
}

/* Invalid, with the first error at path and its message containing text. */
static void check_invalid(int line, const char *schema_text, const char *instance_text,
                          const char *path, const char *text)
{
    df_schema_t *schema = load(line, schema_text);
    json_t *instance = json(instance_text);
    df_error_t err;

    df_error_init(&err);
    if (schema) {
        bool ok = df_schema_validate(schema, instance, &err);
        CHECK_MSG(!ok, "line %d: %s should be invalid", line, instance_text);
        CHECK_MSG(ok || err.code == DF_ERR_INVALID, "line %d: code %d", line, err.code);
        CHECK_MSG(ok || strcmp(err.field, path) == 0, "line %d: path \"%s\", expected \"%s\" (%s)",
                  line, err.field, path, err.message);
        CHECK_MSG(ok || strstr(err.message, text), "line %d: message \"%s\" lacks \"%s\"", line,
                  err.message, text);
        CHECK_MSG(!df_schema_validate(schema, instance, NULL), "line %d: verdict-only run", line);
    }
    json_decref(instance);
    df_schema_destroy(schema);
}

/* The schema must be refused at load with code, err.field containing
 * field and the message containing text. */
static void check_refused(int line, const char *schema_text, df_code_t code, const char *field,
                          const char *text)
{
    json_t *doc = json(schema_text);
    df_error_t err;
    df_schema_t *schema;

    df_error_init(&err);
    schema = df_schema_load(doc, &err);
    json_decref(doc);
    CHECK_MSG(schema == NULL, "line %d: %s should be refused", line, schema_text);
    CHECK_MSG(err.code == code, "line %d: code %s, expected %s (%s)", line, df_code_name(err.code),
              df_code_name(code), err.message);
    CHECK_MSG(strstr(err.field, field), "line %d: field \"%s\" lacks \"%s\"", line, err.field,
              field);
    CHECK_MSG(strstr(err.message, text), "line %d: message \"%s\" lacks \"%s\"", line, err.message,
              text);
    df_schema_destroy(schema);
}

#define VALID(schema, instance)               check_valid(__LINE__, schema, instance)
#define INVALID(schema, instance, path, text) check_invalid(__LINE__, schema, instance, path, text)
#define REFUSED(schema, code, field, text)    check_refused(__LINE__, schema, code, field, text)

/* ---- the contracts and their examples -------------------------------- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long size;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(f);
    if (text) /* trailing whitespace is not part of the path */
        for (long i = size - 1; i >= 0 && strchr(" \t\r\n", text[i]); i--)
            text[i] = '\0';
    return text;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Validate every example of one verdict; returns how many were checked. */
static int check_examples(const df_schema_t *schema, const char *contract, bool valid)
{
    char dir[1024], path[1400], *names[512];
    size_t count = 0;
    DIR *d;
    struct dirent *entry;

    snprintf(dir, sizeof(dir), "%s/schemas/examples/%s/%s", source_dir(),
             valid ? "valid" : "invalid", contract);
    d = opendir(dir);
    CHECK_MSG(d != NULL, "%s: %s", dir, strerror(errno));
    if (!d)
        return 0;
    while ((entry = readdir(d)) && count < sizeof(names) / sizeof(names[0])) {
        size_t len = strlen(entry->d_name);
        if (len > 5 && strcmp(entry->d_name + len - 5, ".json") == 0)
            names[count++] = strdup(entry->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof(names[0]), name_cmp);

    for (size_t i = 0; i < count; i++) {
        json_error_t jerr;
        json_t *instance;
        df_error_t err, all[8];
        size_t nall;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        instance = json_load_file(path, JSON_DECODE_ANY, &jerr);
        CHECK_MSG(instance != NULL, "%s: %s", path, jerr.text);
        if (!instance)
            continue;
        df_error_init(&err);
        nall = df_schema_validate_all(schema, instance, all, 8);
        if (valid) {
            CHECK_MSG(df_schema_validate(schema, instance, &err), "%s: %s: %s", path, err.field,
                      err.message);
            CHECK_MSG(nall == 0, "%s: validate_all found %zu errors", path, nall);
        } else {
            char expect_path[1400], *expect;
            snprintf(expect_path, sizeof(expect_path), "%.*s.expect",
                     (int)(strlen(path) - strlen(".json")), path);
            expect = read_text(expect_path);
            CHECK_MSG(expect != NULL, "%s: missing", expect_path);
            CHECK_MSG(!df_schema_validate(schema, instance, &err), "%s should be invalid", path);
            CHECK_MSG(err.code == DF_ERR_INVALID && err.message[0], "%s: code %d, message \"%s\"",
                      path, err.code, err.message);
            CHECK_MSG(expect && strncmp(err.field, expect, strlen(expect)) == 0,
                      "%s: error at \"%s\" (%s), expected a path starting with \"%s\"", path,
                      err.field, err.message, expect ? expect : "?");
            CHECK_MSG(nall >= 1 && strcmp(all[0].field, err.field) == 0,
                      "%s: validate_all disagrees: %zu errors, first at %s", path, nall,
                      nall ? all[0].field : "-");
            free(expect);
        }
        json_decref(instance);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    return (int)count;
}

static void test_contract_examples(void)
{
    static const char *const contracts[] = { "task", "event", "connector" };
    static const char *const ids[] = { "https://datafleet.dev/schemas/task.v1.schema.json",
                                       "https://datafleet.dev/schemas/event.v1.schema.json",
                                       "https://datafleet.dev/schemas/connector.v1.schema.json" };
    for (size_t i = 0; i < 3; i++) {
        df_error_t err;
        df_schema_t *schema;
        int nvalid, ninvalid;

        df_error_init(&err);
        schema = df_schema_load_named(contracts[i], &err);
        CHECK_MSG(schema != NULL, "%s: %s (%s)", contracts[i], err.message, err.field);
        if (!schema)
            continue;
        CHECK_STR(df_schema_id(schema), ids[i]);
        nvalid = check_examples(schema, contracts[i], true);
        ninvalid = check_examples(schema, contracts[i], false);
        CHECK_MSG(nvalid >= 8, "%s: %d valid examples, want at least 8", contracts[i], nvalid);
        CHECK_MSG(ninvalid >= 15, "%s: %d invalid examples, want at least 15", contracts[i],
                  ninvalid);
        printf("%s: %d valid and %d invalid examples checked\n", contracts[i], nvalid, ninvalid);
        df_schema_destroy(schema);
    }
}

/* ---- keywords, one family at a time ---------------------------------- */

static void test_type(void)
{
    VALID("{'type':'integer'}", "1");
    VALID("{'type':'integer'}", "1.0"); /* 2020-12: a number with no fraction */
    VALID("{'type':'integer'}", "-0.0");
    INVALID("{'type':'integer'}", "1.5", "", "expected integer, got number 1.5");
    INVALID("{'type':'integer'}", "'1'", "", "expected integer, got string \"1\"");
    VALID("{'type':'number'}", "1");
    VALID("{'type':'number'}", "2.5e3");
    INVALID("{'type':'number'}", "true", "", "expected number, got boolean true");
    VALID("{'type':['string','null']}", "null");
    INVALID("{'type':['string','null']}", "{}", "", "expected string or null, got an object");
    VALID("{'type':'boolean'}", "false");
    VALID("{'type':'array'}", "[]");
    INVALID("{'type':'object'}", "[]", "", "expected object, got an array");
    VALID("{'type':'null'}", "null");
}

static void test_enum_const(void)
{
    INVALID("{'enum':['append','replace','upsert']}", "'merge'", "",
            "expected one of \"append\", \"replace\", \"upsert\", got \"merge\"");
    VALID("{'enum':[1,'a',null]}", "1.0"); /* numbers compare by value */
    VALID("{'enum':[[1,{'a':2}]]}", "[1.0,{'a':2.0}]");
    INVALID("{'enum':[1,2]}", "true", "", "got true");
    VALID("{'const':{'a':[1,2],'b':null}}", "{'b':null,'a':[1,2.0]}");
    INVALID("{'const':'export'}", "'Export'", "", "expected \"export\", got \"Export\"");
    INVALID("{'const':false}", "0", "", "expected false, got 0");
}

static void test_objects(void)
{
    const char *s = "{'type':'object','required':['a','b'],'properties':{'a':{'type':'string'},"
                    "'b':{'type':'integer'}},'additionalProperties':false}";
    VALID(s, "{'a':'x','b':1}");
    INVALID(s, "{'a':'x'}", "/b", "missing required property \"b\"");
    INVALID(s, "{'a':'x','b':'1'}", "/b", "expected integer");
    INVALID(s, "{'a':'x','b':1,'c':0}", "/c", "unknown property \"c\"; expected one of: a, b");
    INVALID("{'additionalProperties':false}", "{'c':0}", "/c", "no other properties");
    VALID("{'additionalProperties':{'type':'string'},'properties':{'n':{'type':'number'}}}",
          "{'n':1,'s':'x'}");
    INVALID("{'additionalProperties':{'type':'string'}}", "{'s':1}", "/s", "expected string");
    VALID("{'patternProperties':{'^x-':{'type':'string'}},'additionalProperties':false}",
          "{'x-a':'1'}");
    INVALID("{'patternProperties':{'^x-':{'type':'string'}},'additionalProperties':false}",
            "{'y':'1'}", "/y", "unknown property");
    INVALID("{'patternProperties':{'^x-':{'type':'string'}}}", "{'x-n':2}", "/x-n",
            "expected string");
    INVALID("{'propertyNames':{'maxLength':3}}", "{'abcd':1}", "/abcd",
            "property name \"abcd\" is not allowed: expected at most 3 characters");
    INVALID("{'propertyNames':{'not':{'const':'password'}}}", "{'a':{},'password':'x'}",
            "/password", "must not be \"password\"");
    VALID("{'propertyNames':{'enum':['a','b']}}", "{'a':1,'b':2}");
    INVALID("{'minProperties':2}", "{'a':1}", "", "expected at least 2 properties, got 1");
    INVALID("{'maxProperties':1}", "{'a':1,'b':2}", "", "expected at most 1 property, got 2");
    VALID("{'dependentRequired':{'mode':['key_columns']}}", "{'x':1}");
    INVALID("{'dependentRequired':{'mode':['key_columns']}}", "{'mode':'upsert'}", "/key_columns",
            "because \"mode\" is present");
    /* keys are JSON Pointer escaped in paths */
    INVALID("{'additionalProperties':false}", "{'a/b~c':1}", "/a~1b~0c", "unknown property");
    /* keywords of other types do not apply */
    VALID("{'required':['a'],'minLength':5,'minimum':3}", "[1]");
}

static void test_arrays(void)
{
    const char *pair = "{'type':'array','prefixItems':[{'type':'integer'},{'type':'string'}],"
                       "'items':false}";
    VALID(pair, "[1,'a']");
    VALID(pair, "[1]");
    INVALID(pair, "[1,2]", "/1", "expected string");
    INVALID(pair, "[1,'a',3]", "/2", "unexpected item: expected at most 2 items");
    VALID("{'prefixItems':[{'type':'integer'}],'items':{'type':'string'}}", "[1,'a','b']");
    INVALID("{'prefixItems':[{'type':'integer'}],'items':{'type':'string'}}", "[1,'a',3]", "/2",
            "expected string");
    INVALID("{'items':{'minimum':0}}", "[0,1,-1]", "/2", "expected a number >= 0, got -1");
    INVALID("{'minItems':2}", "[1]", "", "expected at least 2 items, got 1");
    INVALID("{'maxItems':1}", "[1,2]", "", "expected at most 1 item, got 2");
    VALID("{'uniqueItems':true}", "[1,'1',[1],{'a':1},true]");
    INVALID("{'uniqueItems':true}", "[1,2,1.0]", "", "items 0 and 2 are equal");
    INVALID("{'uniqueItems':true}", "[{'a':1,'b':2},{'b':2,'a':1}]", "", "items 0 and 1");
    VALID("{'uniqueItems':false}", "[1,1]");
}

static void test_strings(void)
{
    /* lengths count code points: U+00E9 is 2 bytes, U+1F600 is 4 */
    VALID("{'maxLength':1}", "'\\u00e9'");
    VALID("{'maxLength':1,'minLength':1}", "'\\ud83d\\ude00'");
    VALID("{'maxLength':3}", "'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'"); /* é € 😀 */
    INVALID("{'maxLength':2}", "'\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'", "",
            "expected at most 2 characters, got 3");
    INVALID("{'minLength':2}", "'\\u00e9'", "", "expected at least 2 characters, got 1");
    VALID("{'minLength':0}", "''");
}

static void test_patterns(void)
{
    VALID("{'pattern':'b'}", "'abc'"); /* a search, not anchored */
    INVALID("{'pattern':'^b'}", "'abc'", "", "expected a string matching ^b, got \"abc\"");
    INVALID("{'pattern':'^abc$'}", "'abc\\n'", "", "matching"); /* $ only at the very end */
    VALID("{'pattern':'^\\\\d{3}-\\\\w+\\\\s\\\\.\\\\\\\\$'}", "'123-a_Z9 .\\\\'");
    INVALID("{'pattern':'^\\\\d+$'}", "'12a'", "", "matching");
    VALID("{'pattern':'^\\\\D\\\\W\\\\S$'}", "'a-b'");
    VALID("{'pattern':'^[\\\\w.\\\\-]+$'}", "'a.b-c_d'");
    INVALID("{'pattern':'^[\\\\w.\\\\-]+$'}", "'a b'", "", "matching");
    VALID("{'pattern':'^[\\\\]\\\\[^]+$'}", "'[]^'");
    VALID("{'pattern':'^[^\\\\d]$'}", "'x'");
    INVALID("{'pattern':'^[^\\\\d]$'}", "'7'", "", "matching");
    VALID("{'pattern':'^(?:ab)+$'}", "'abab'");
    VALID("{'pattern':'^a.c$'}", "'abc'");
    INVALID("{'pattern':'^a.c$'}", "'a\\nc'", "", "matching"); /* . is not a line break */
    VALID("{'pattern':'^a\\\\{2\\\\}$'}", "'a{2}'");
    VALID("{'pattern':'^[0-9A-HJKMNP-TV-Z]{26}$'}", "'01HXK3Z9V6T5R4Q3P2N1M0KJHG'");
    INVALID("{'pattern':'^[0-9A-HJKMNP-TV-Z]{26}$'}", "'01HXK3Z9V6T5R4Q3P2N1M0KJHI'", "",
            "matching");
    /* embedded NUL: the whole string is matched, not its C prefix */
    VALID("{'pattern':'^a'}", "'a\\u0000b'");
    INVALID("{'pattern':'^[a-z]+$'}", "'ab\\u0000c'", "", "matching");
    /* the node's description explains the pattern */
    INVALID("{'pattern':'^x$','description':'an x'}", "'y'", "", "got \"y\" (an x)");
    /* outside the subset: refused at load, naming the location */
    REFUSED("{'pattern':'(?=a)'}", DF_ERR_UNSUPPORTED, "#/pattern", "lookarounds");
    REFUSED("{'pattern':'a+?'}", DF_ERR_UNSUPPORTED, "#/pattern", "lazy");
    REFUSED("{'pattern':'(a)\\\\1'}", DF_ERR_UNSUPPORTED, "#/pattern", "unsupported escape \\1");
    REFUSED("{'pattern':'\\\\bword'}", DF_ERR_UNSUPPORTED, "#/pattern", "unsupported escape \\b");
    REFUSED("{'pattern':'a{x'}", DF_ERR_UNSUPPORTED, "#/pattern", "literal {");
    REFUSED("{'pattern':'[a-\\\\d]'}", DF_ERR_UNSUPPORTED, "#/pattern", "ambiguous -");
    REFUSED("{'pattern':'\\u00e9'}", DF_ERR_UNSUPPORTED, "#/pattern", "non-ASCII");
    REFUSED("{'pattern':'[]'}", DF_ERR_UNSUPPORTED, "#/pattern", "empty class");
    REFUSED("{'properties':{'a':{'pattern':'(a'}}}", DF_ERR_INVALID, "#/properties/a/pattern",
            "regex \"(a\"");
    REFUSED("{'patternProperties':{'(?<n>x)':true}}", DF_ERR_UNSUPPORTED,
            "#/patternProperties/(?<n>x)", "named groups");
}

static void test_numbers(void)
{
    VALID("{'minimum':1,'maximum':100}", "1");
    VALID("{'minimum':1,'maximum':100}", "100.0");
    INVALID("{'minimum':1}", "0.5", "", "expected a number >= 1, got 0.5");
    INVALID("{'type':'integer','maximum':100}", "101", "", "expected an integer <= 100, got 101");
    INVALID("{'exclusiveMinimum':0}", "0", "", "expected a number > 0, got 0");
    VALID("{'exclusiveMinimum':0}", "0.001");
    INVALID("{'exclusiveMaximum':1.5}", "1.5", "", "expected a number < 1.5, got 1.5");
    VALID("{'minimum':-9007199254740993}", "-9007199254740992"); /* int64, not double */
    INVALID("{'maximum':9007199254740992}", "9007199254740993", "", "<= 9007199254740992");
    VALID("{'multipleOf':3}", "9");
    VALID("{'multipleOf':3}", "9.0");
    INVALID("{'multipleOf':3}", "10", "", "expected a multiple of 3, got 10");
    VALID("{'multipleOf':0.5}", "1.5");
    INVALID("{'multipleOf':0.5}", "1.25", "", "multiple of 0.5");
    VALID("{'minimum':0}", "'not a number'");
}

static void test_combinators(void)
{
    const char *sleep = "{'oneOf':[{'type':'integer','minimum':0},"
                        "{'type':'array','prefixItems':[{'type':'integer'},{'type':'integer'}],"
                        "'items':false,'minItems':2}]}";
    VALID(sleep, "5");
    VALID(sleep, "[1,2]");
    INVALID(sleep, "'fast'", "", "expected array or integer, got string \"fast\"");
    INVALID(sleep, "-1", "", "expected an integer >= 0, got -1"); /* the right-type branch */
    INVALID(sleep, "[1]", "", "expected at least 2 items");
    INVALID(sleep, "[1,'2']", "/1", "expected integer"); /* the deepest branch error */
    INVALID("{'oneOf':[{'type':'number'},{'type':'integer'}]}", "1", "",
            "alternatives 0 and 1 both do");
    VALID("{'anyOf':[{'type':'number'},{'type':'integer'}]}", "1");
    INVALID("{'anyOf':[{'type':'string'},{'type':'object','required':['a']}]}", "{}", "/a",
            "missing required property \"a\"");
    VALID("{'allOf':[{'minimum':1},{'maximum':2}]}", "2");
    INVALID("{'allOf':[{'minimum':1},{'maximum':2}]}", "3", "", "<= 2");
    INVALID("{'not':{'type':'string'}}", "'x'", "", "must not match the schema at #/not");
    INVALID("{'not':{'enum':['a','b']}}", "'b'", "", "must not be one of \"a\", \"b\"");
    VALID("{'not':{'enum':['a','b']}}", "'c'");
    INVALID("{'not':{'pattern':'password=','description':'no password in the query'}}",
            "'db?password=x'", "", "refused: no password in the query");
}

static void test_conditionals(void)
{
    const char *s = "{'if':{'properties':{'mode':{'const':'upsert'}},'required':['mode']},"
                    "'then':{'required':['key_columns'],'description':'upsert needs keys'},"
                    "'else':{'properties':{'key_columns':false}}}";
    VALID(s, "{'mode':'upsert','key_columns':['id']}");
    VALID(s, "{'mode':'append'}");
    INVALID(s, "{'mode':'upsert'}", "/key_columns",
            "missing required property \"key_columns\" (upsert needs keys)");
    INVALID(s, "{'mode':'append','key_columns':['id']}", "/key_columns", "no value is allowed");
    VALID("{'then':false}", "1"); /* then without if: ignored */
}

static void test_refs(void)
{
    const char *tree = "{'$defs':{'node':{'type':'object','properties':{'value':{'type':'integer'},"
                       "'children':{'type':'array','items':{'$ref':'#/$defs/node'}}},"
                       "'additionalProperties':false}},'$ref':'#/$defs/node'}";
    VALID(tree, "{'value':1,'children':[{'value':2,'children':[{'value':3}]}]}");
    INVALID(tree, "{'value':1,'children':[{'value':2,'children':[{'value':'3'}]}]}",
            "/children/0/children/0/value", "expected integer");
    VALID("{'type':['object','integer'],'additionalProperties':{'$ref':'#'}}", "{'a':{'b':1}}");
    INVALID("{'type':['object','integer'],'additionalProperties':{'$ref':'#'}}", "{'a':{'b':'x'}}",
            "/a/b", "expected object or integer");
    VALID("{'$defs':{'a~b':{'type':'string'},'c/d':{'$ref':'#/$defs/a~0b'}},"
          "'$ref':'#/$defs/c~1d'}",
          "'x'");
    VALID("{'properties':{'a':{'type':'string'},'b':{'$ref':'#/properties/a'}}}", "{'b':'x'}");
    /* a reference loop that never descends fails cleanly instead of crashing */
    INVALID("{'$defs':{'loop':{'$ref':'#/$defs/loop'}},'$ref':'#/$defs/loop'}", "1", "",
            "nested deeper than");
    REFUSED("{'$ref':'task.v1.schema.json#/$defs/id'}", DF_ERR_UNSUPPORTED, "#/$ref",
            "only references inside the same document");
    REFUSED("{'$ref':'#anchor'}", DF_ERR_UNSUPPORTED, "#/$ref", "same document");
    REFUSED("{'$ref':'#/$defs/missing'}", DF_ERR_INVALID, "#/$ref", "does not point to a schema");
    REFUSED("{'$defs':{'x':{'type':'strin'}}}", DF_ERR_INVALID, "#/$defs/x/type",
            "expected null, boolean"); /* unused $defs are still checked */
}

static void test_boolean_schemas(void)
{
    VALID("true", "{'anything':[1]}");
    INVALID("false", "1", "", "no value is allowed here");
    VALID("{'properties':{'a':true,'b':false}}", "{'a':1}");
    INVALID("{'properties':{'a':true,'b':false}}", "{'b':1}", "/b", "no value is allowed here");
}

static void test_annotations_ignored(void)
{
    VALID("{'$schema':'https://json-schema.org/draft/2020-12/schema','$id':'https://x.dev/s.json',"
          "'$comment':'c','title':'t','description':'d','default':5,'examples':[1],"
          "'deprecated':true,'readOnly':false,'writeOnly':false,'format':'date-time',"
          "'type':'string'}",
          "'not a date'"); /* format is an annotation in 2020-12 by default */
}

static void test_refused_keywords(void)
{
    REFUSED("{'contains':{'type':'string'}}", DF_ERR_UNSUPPORTED, "#/contains",
            "unsupported keyword \"contains\"");
    REFUSED("{'properties':{'a':{'requried':['x']}}}", DF_ERR_UNSUPPORTED,
            "#/properties/a/requried", "unsupported keyword \"requried\" at #/properties/a");
    REFUSED("{'unevaluatedProperties':false}", DF_ERR_UNSUPPORTED, "#/unevaluatedProperties",
            "unevaluatedProperties");
    REFUSED("{'definitions':{}}", DF_ERR_UNSUPPORTED, "#/definitions", "definitions");
    REFUSED("{'$schema':'http://json-schema.org/draft-07/schema#'}", DF_ERR_UNSUPPORTED,
            "#/$schema", "draft 2020-12");
    REFUSED("{'properties':{'a':{'$id':'x'}}}", DF_ERR_UNSUPPORTED, "#/properties/a/$id",
            "only the schema root");
    REFUSED("{'items':[{'type':'string'}]}", DF_ERR_INVALID, "#/items", "prefixItems");
    REFUSED("{'minLength':-1}", DF_ERR_INVALID, "#/minLength", "a non-negative integer");
    REFUSED("{'maxItems':1.5}", DF_ERR_INVALID, "#/maxItems", "a non-negative integer");
    REFUSED("{'required':'a'}", DF_ERR_INVALID, "#/required", "distinct strings");
    REFUSED("{'required':['a','a']}", DF_ERR_INVALID, "#/required", "distinct strings");
    REFUSED("{'multipleOf':0}", DF_ERR_INVALID, "#/multipleOf", "greater than 0");
    REFUSED("{'anyOf':[]}", DF_ERR_INVALID, "#/anyOf", "non-empty array");
    REFUSED("{'properties':{'a':1}}", DF_ERR_INVALID, "#/properties/a", "object or a boolean");
    REFUSED("[]", DF_ERR_INVALID, "#", "object or a boolean");
}

static void test_validate_all(void)
{
    df_schema_t *schema = load(__LINE__, "{'required':['a','b','c'],'properties':{'d':"
                                         "{'type':'string'}}}");
    json_t *instance = json("{'d':1}");
    df_error_t errs[8];

    REQUIRE(schema != NULL);
    CHECK_INT(df_schema_validate_all(schema, instance, errs, 8), 4);
    CHECK_STR(errs[0].field, "/a");
    CHECK_STR(errs[1].field, "/b");
    CHECK_STR(errs[2].field, "/c");
    CHECK_STR(errs[3].field, "/d");
    CHECK_INT(df_schema_validate_all(schema, instance, errs, 2), 2);
    CHECK_INT(df_schema_validate_all(schema, instance, NULL, 0), 1);
    CHECK_INT(instance->refcount, 1); /* the instance is only borrowed */
    json_decref(instance);
    df_schema_destroy(schema);
    df_schema_destroy(NULL);
}

static void test_load_file_and_named(void)
{
    char dir[] = "/tmp/df-schema-test-XXXXXX", path[256];
    df_error_t err;
    df_schema_t *schema;
    FILE *f;

    df_error_init(&err);
    CHECK(df_schema_load_file("/nonexistent/x.schema.json", &err) == NULL);
    CHECK_INT(err.code, DF_ERR_IO);

    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/task.v1.schema.json", dir);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"$id\": \"https://example.test/custom\", \"type\": \"object\"}\n", f);
    fclose(f);
    setenv("DATAFLEET_SCHEMA_DIR", dir, 1);
    schema = df_schema_load_named("task", &err);
    CHECK_MSG(schema != NULL, "%s", err.message);
    CHECK_STR(df_schema_id(schema), "https://example.test/custom");
    df_schema_destroy(schema);
    CHECK(df_schema_load_named("event", &err) == NULL); /* only the override is searched */
    CHECK_INT(err.code, DF_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "DATAFLEET_SCHEMA_DIR"), "%s", err.message);

    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"type\": \"object\", \"type\": \"string\"}\n", f);
    fclose(f);
    CHECK(df_schema_load_file(path, &err) == NULL); /* duplicate keys */
    CHECK_INT(err.code, DF_ERR_INVALID);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"type\": \"object\", \"requird\": []}\n", f);
    fclose(f);
    CHECK(df_schema_load_file(path, &err) == NULL);
    CHECK_INT(err.code, DF_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.message, path) && strstr(err.message, "requird"), "%s", err.message);
    unlink(path);
    rmdir(dir);
    unsetenv("DATAFLEET_SCHEMA_DIR");

    CHECK(df_schema_load_named("../etc/passwd", &err) == NULL);
    CHECK_INT(err.code, DF_ERR_INVALID);
    CHECK(df_schema_load_named("nosuchcontract", &err) == NULL);
    CHECK_INT(err.code, DF_ERR_NOT_FOUND);
}

int main(void)
{
    unsetenv("DATAFLEET_SCHEMA_DIR"); /* the source tree's schemas, whatever the caller has */
    RUN(test_contract_examples);
    RUN(test_type);
    RUN(test_enum_const);
    RUN(test_objects);
    RUN(test_arrays);
    RUN(test_strings);
    RUN(test_patterns);
    RUN(test_numbers);
    RUN(test_combinators);
    RUN(test_conditionals);
    RUN(test_refs);
    RUN(test_boolean_schemas);
    RUN(test_annotations_ignored);
    RUN(test_refused_keywords);
    RUN(test_validate_all);
    RUN(test_load_file_and_named);
    return df_test_done();
}
