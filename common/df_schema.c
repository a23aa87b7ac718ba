/* df_schema: loading a JSON Schema document into the compiled form of
 * df_schema_internal.h (keywords checked, $refs resolved, regexes
 * translated and compiled once), finding the named contracts, and the
 * public API. Validation itself is in df_schema_keywords.c. */
#include "df_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_build.h"
#include "df_schema_internal.h"

#define DRAFT_2020_12 "https://json-schema.org/draft/2020-12/schema"
#define LOCATION_MAX  512

struct df_schema {
    json_t *doc; /* our copy of the document; nodes borrow from it */
    sch_node_t **nodes;
    size_t nnodes, nodes_cap;
    sch_regex_t **regexes;
    size_t nregexes, regexes_cap;
    sch_node_t *root;
    const char *id;
};

typedef struct compiler {
    df_schema_t *schema;
    df_error_t *err;
} compiler_t;

typedef bool (*keyword_fn)(compiler_t *c, sch_node_t *node, const char *keyword,
                           const json_t *value, const char *loc);

static sch_node_t *compile(compiler_t *c, const json_t *src, const char *loc);

/* ---- the compiled schema's bookkeeping ------------------------------- */

/* Append to the schema's lists of owned nodes / regexes. */
static bool add_node(df_schema_t *s, sch_node_t *node)
{
    if (s->nnodes == s->nodes_cap) {
        size_t cap = s->nodes_cap ? s->nodes_cap * 2 : 32;
        sch_node_t **nodes = realloc(s->nodes, cap * sizeof(*nodes));
        if (!nodes)
            return false;
        s->nodes = nodes;
        s->nodes_cap = cap;
    }
    s->nodes[s->nnodes++] = node;
    return true;
}

static bool add_regex(df_schema_t *s, sch_regex_t *regex)
{
    if (s->nregexes == s->regexes_cap) {
        size_t cap = s->regexes_cap ? s->regexes_cap * 2 : 16;
        sch_regex_t **regexes = realloc(s->regexes, cap * sizeof(*regexes));
        if (!regexes)
            return false;
        s->regexes = regexes;
        s->regexes_cap = cap;
    }
    s->regexes[s->nregexes++] = regex;
    return true;
}

static bool nomem(compiler_t *c, const char *loc)
{
    df_error_set(c->err, DF_ERR_NOMEM, loc, "out of memory compiling the schema");
    return false;
}

static bool bad_value(compiler_t *c, const char *loc, const char *keyword, const char *expected)
{
    df_error_set(c->err, DF_ERR_INVALID, loc, "keyword \"%s\" at %s: expected %s", keyword, loc,
                 expected);
    return false;
}

/* Translate and compile the pattern ecma (len bytes) found at loc. The
 * regex belongs to the schema; ecma is borrowed from its document. */
static sch_regex_t *compile_regex(compiler_t *c, const char *ecma, size_t len, const char *loc)
{
    df_schema_t *s = c->schema;
    char why[160];
    char *ere;
    sch_regex_t *regex;
    int rc;

    if (strlen(ecma) != len) {
        df_error_set(c->err, DF_ERR_UNSUPPORTED, loc, "regex at %s contains a NUL character", loc);
        return NULL;
    }
    ere = sch_regex_translate(ecma, why, sizeof(why));
    if (!ere) {
        df_error_set(c->err, DF_ERR_UNSUPPORTED, loc, "regex \"%s\" at %s: %s", ecma, loc, why);
        return NULL;
    }
    regex = calloc(1, sizeof(*regex));
    if (!regex) {
        free(ere);
        nomem(c, loc);
        return NULL;
    }
    rc = regcomp(&regex->re, ere, REG_EXTENDED | REG_NOSUB);
    free(ere);
    if (rc != 0) {
        regerror(rc, &regex->re, why, sizeof(why));
        free(regex);
        df_error_set(c->err, DF_ERR_INVALID, loc, "regex \"%s\" at %s: %s", ecma, loc, why);
        return NULL;
    }
    if (!add_regex(s, regex)) {
        regfree(&regex->re);
        free(regex);
        nomem(c, loc);
        return NULL;
    }
    regex->source = ecma;
    return regex;
}

static void node_free(sch_node_t *node)
{
    free(node->location);
    free(node->props);
    free(node->pattern_props);
    free(node->prefix);
    free(node->all_of);
    free(node->any_of);
    free(node->one_of);
    free(node);
}

/* "#/a" + "b/c" -> "#/a/b~1c" (JSON Pointer escaping), cut to fit. */
static void location_join(char *out, size_t size, const char *base, const char *key)
{
    size_t o = (size_t)snprintf(out, size, "%s/", base);
    for (const char *k = key; *k && o + 3 < size; k++) {
        if (*k == '~' || *k == '/') {
            out[o++] = '~';
            out[o++] = *k == '~' ? '0' : '1';
        } else {
            out[o++] = *k;
        }
    }
    if (o >= size)
        o = size - 1;
    out[o] = '\0';
}

static void location_index(char *out, size_t size, const char *base, size_t index)
{
    snprintf(out, size, "%s/%zu", base, index);
}

/* ---- keyword compilers ----------------------------------------------- */

static bool nonneg_integer(const json_t *value, int64_t *out)
{
    if (!sch_is_integer(value))
        return false;
    double d = json_number_value(value);
    if (json_is_integer(value))
        *out = json_integer_value(value);
    else
        *out = d >= 9.2e18 ? INT64_MAX : (int64_t)d;
    return *out >= 0;
}

static bool unique_strings(const json_t *array)
{
    size_t i, j;
    if (!json_is_array(array))
        return false;
    for (i = 0; i < json_array_size(array); i++) {
        const json_t *a = json_array_get(array, i);
        if (!json_is_string(a))
            return false;
        for (j = 0; j < i; j++)
            if (json_equal((json_t *)a, json_array_get(array, j)))
                return false;
    }
    return true;
}

static bool kw_schema_uri(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                          const char *loc)
{
    const char *uri = json_string_value(value);
    (void)node;
    if (!uri || (strcmp(uri, DRAFT_2020_12) != 0 && strcmp(uri, DRAFT_2020_12 "#") != 0)) {
        df_error_set(c->err, DF_ERR_UNSUPPORTED, loc,
                     "keyword \"%s\" at %s: only \"%s\" "
                     "(JSON Schema draft 2020-12) is supported",
                     keyword, loc, DRAFT_2020_12);
        return false;
    }
    return true;
}

static bool kw_id(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                  const char *loc)
{
    if (node->src != c->schema->doc) {
        df_error_set(c->err, DF_ERR_UNSUPPORTED, loc,
                     "keyword \"%s\" at %s: only the schema root may have one", keyword, loc);
        return false;
    }
    if (!json_is_string(value))
        return bad_value(c, loc, keyword, "a string");
    c->schema->id = json_string_value(value);
    return true;
}

static bool kw_description(compiler_t *c, sch_node_t *node, const char *keyword,
                           const json_t *value, const char *loc)
{
    if (!json_is_string(value))
        return bad_value(c, loc, keyword, "a string");
    node->description = json_string_value(value);
    return true;
}

static bool kw_type(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                    const char *loc)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        { "null", SCH_NULL },       { "boolean", SCH_BOOLEAN }, { "object", SCH_OBJECT },
        { "array", SCH_ARRAY },     { "number", SCH_NUMBER },   { "string", SCH_STRING },
        { "integer", SCH_INTEGER },
    };
    size_t count = json_is_array(value) ? json_array_size(value) : 1;
    if (json_is_array(value) && (count == 0 || !unique_strings(value)))
        return bad_value(c, loc, keyword, "a type name or a non-empty array of distinct names");
    for (size_t i = 0; i < count; i++) {
        const char *name =
            json_string_value(json_is_array(value) ? json_array_get(value, i) : value);
        size_t k;
        for (k = 0; name && k < sizeof(names) / sizeof(names[0]); k++)
            if (strcmp(name, names[k].name) == 0)
                break;
        if (!name || k == sizeof(names) / sizeof(names[0]))
            return bad_value(c, loc, keyword,
                             "null, boolean, object, array, number, string or integer");
        node->types |= names[k].bit;
    }
    return true;
}

static bool kw_enum(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                    const char *loc)
{
    if (!json_is_array(value) || json_array_size(value) == 0)
        return bad_value(c, loc, keyword, "a non-empty array");
    node->enum_values = value;
    return true;
}

static bool kw_const(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                     const char *loc)
{
    (void)c, (void)keyword, (void)loc;
    node->const_value = value;
    return true;
}

static int prop_cmp(const void *a, const void *b)
{
    return strcmp(((const sch_prop_t *)a)->name, ((const sch_prop_t *)b)->name);
}

static bool kw_properties(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                          const char *loc)
{
    const char *name;
    json_t *sub;
    char child[LOCATION_MAX];

    if (!json_is_object(value))
        return bad_value(c, loc, keyword, "an object of schemas");
    node->props = calloc(json_object_size(value) + 1, sizeof(*node->props));
    if (!node->props)
        return nomem(c, loc);
    json_object_foreach((json_t *)value, name, sub)
    {
        sch_prop_t *prop = &node->props[node->nprops++];
        location_join(child, sizeof(child), loc, name);
        prop->name = name;
        prop->node = compile(c, sub, child);
        if (!prop->node)
            return false;
    }
    qsort(node->props, node->nprops, sizeof(*node->props), prop_cmp);
    return true;
}

static bool kw_pattern_properties(compiler_t *c, sch_node_t *node, const char *keyword,
                                  const json_t *value, const char *loc)
{
    const char *pattern;
    json_t *sub;
    char child[LOCATION_MAX];

    if (!json_is_object(value))
        return bad_value(c, loc, keyword, "an object of regex: schema");
    node->pattern_props = calloc(json_object_size(value) + 1, sizeof(*node->pattern_props));
    if (!node->pattern_props)
        return nomem(c, loc);
    json_object_foreach((json_t *)value, pattern, sub)
    {
        sch_pattern_prop_t *pp = &node->pattern_props[node->npattern_props++];
        location_join(child, sizeof(child), loc, pattern);
        pp->regex = compile_regex(c, pattern, strlen(pattern), child);
        if (!pp->regex || !(pp->node = compile(c, sub, child)))
            return false;
    }
    return true;
}

static bool kw_required(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                        const char *loc)
{
    if (!unique_strings(value))
        return bad_value(c, loc, keyword, "an array of distinct strings");
    node->required = value;
    return true;
}

static bool kw_dependent_required(compiler_t *c, sch_node_t *node, const char *keyword,
                                  const json_t *value, const char *loc)
{
    const char *name;
    json_t *names;
    if (!json_is_object(value))
        return bad_value(c, loc, keyword, "an object of arrays of distinct strings");
    json_object_foreach((json_t *)value, name, names)
    {
        if (!unique_strings(names))
            return bad_value(c, loc, keyword, "an object of arrays of distinct strings");
    }
    node->dependent_required = value;
    return true;
}

/* Keywords whose value is one schema: additionalProperties, items, not... */
static bool kw_subschema(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                         const char *loc)
{
    sch_node_t **slot = strcmp(keyword, "additionalProperties") == 0 ? &node->additional
                        : strcmp(keyword, "propertyNames") == 0      ? &node->property_names
                        : strcmp(keyword, "items") == 0              ? &node->items
                        : strcmp(keyword, "not") == 0                ? &node->not_schema
                        : strcmp(keyword, "if") == 0                 ? &node->if_schema
                        : strcmp(keyword, "then") == 0               ? &node->then_schema
                                                                     : &node->else_schema;
    if (json_is_array(value) && strcmp(keyword, "items") == 0)
        return bad_value(c, loc, keyword,
                         "a schema (draft 2020-12 uses prefixItems for an array of schemas)");
    *slot = compile(c, value, loc);
    return *slot != NULL;
}

/* Keywords whose value is a non-empty array of schemas. */
static bool kw_schema_list(compiler_t *c, sch_node_t *node, const char *keyword,
                           const json_t *value, const char *loc)
{
    bool prefix = strcmp(keyword, "prefixItems") == 0;
    sch_node_t ***list = prefix                          ? &node->prefix
                         : strcmp(keyword, "allOf") == 0 ? &node->all_of
                         : strcmp(keyword, "anyOf") == 0 ? &node->any_of
                                                         : &node->one_of;
    size_t *count = prefix                          ? &node->nprefix
                    : strcmp(keyword, "allOf") == 0 ? &node->nall_of
                    : strcmp(keyword, "anyOf") == 0 ? &node->nany_of
                                                    : &node->none_of;
    char child[LOCATION_MAX];

    if (!json_is_array(value) || json_array_size(value) == 0)
        return bad_value(c, loc, keyword, "a non-empty array of schemas");
    *list = calloc(json_array_size(value), sizeof(**list));
    if (!*list)
        return nomem(c, loc);
    for (size_t i = 0; i < json_array_size(value); i++) {
        location_index(child, sizeof(child), loc, i);
        (*list)[i] = compile(c, json_array_get(value, i), child);
        if (!(*list)[i])
            return false;
        *count = i + 1;
    }
    return true;
}

/* $defs: compiled even when nothing refers to them, so they are checked. */
static bool kw_defs(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                    const char *loc)
{
    const char *name;
    json_t *sub;
    char child[LOCATION_MAX];
    (void)node;
    if (!json_is_object(value))
        return bad_value(c, loc, keyword, "an object of schemas");
    json_object_foreach((json_t *)value, name, sub)
    {
        location_join(child, sizeof(child), loc, name);
        if (!compile(c, sub, child))
            return false;
    }
    return true;
}

/* Counts: minLength, maxItems, minProperties... */
static bool kw_count(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                     const char *loc)
{
    int64_t *slot = strcmp(keyword, "minLength") == 0       ? &node->min_length
                    : strcmp(keyword, "maxLength") == 0     ? &node->max_length
                    : strcmp(keyword, "minItems") == 0      ? &node->min_items
                    : strcmp(keyword, "maxItems") == 0      ? &node->max_items
                    : strcmp(keyword, "minProperties") == 0 ? &node->min_props
                                                            : &node->max_props;
    if (!nonneg_integer(value, slot))
        return bad_value(c, loc, keyword, "a non-negative integer");
    return true;
}

/* Bounds: minimum, exclusiveMaximum, multipleOf... */
static bool kw_bound(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                     const char *loc)
{
    if (!json_is_number(value))
        return bad_value(c, loc, keyword, "a number");
    if (strcmp(keyword, "minimum") == 0)
        node->minimum = value;
    else if (strcmp(keyword, "maximum") == 0)
        node->maximum = value;
    else if (strcmp(keyword, "exclusiveMinimum") == 0)
        node->exclusive_minimum = value;
    else if (strcmp(keyword, "exclusiveMaximum") == 0)
        node->exclusive_maximum = value;
    else if (json_number_value(value) > 0)
        node->multiple_of = value;
    else
        return bad_value(c, loc, keyword, "a number greater than 0");
    return true;
}

static bool kw_unique_items(compiler_t *c, sch_node_t *node, const char *keyword,
                            const json_t *value, const char *loc)
{
    if (!json_is_boolean(value))
        return bad_value(c, loc, keyword, "a boolean");
    node->unique_items = json_is_true(value);
    return true;
}

static bool kw_pattern(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                       const char *loc)
{
    if (!json_is_string(value))
        return bad_value(c, loc, keyword, "a string (an ECMA-262 regex)");
    node->pattern = compile_regex(c, json_string_value(value), json_string_length(value), loc);
    return node->pattern != NULL;
}

/* Resolve a local reference, "#" or "#/json/pointer", and compile its
 * target (or find it compiled already: that is how recursion ends). */
static bool kw_ref(compiler_t *c, sch_node_t *node, const char *keyword, const json_t *value,
                   const char *loc)
{
    const char *ref = json_string_value(value), *p;
    const json_t *target = c->schema->doc;
    char segment[LOCATION_MAX];

    if (!ref)
        return bad_value(c, loc, keyword, "a string");
    if (ref[0] != '#' || (ref[1] != '\0' && ref[1] != '/') || strchr(ref, '%')) {
        df_error_set(c->err, DF_ERR_UNSUPPORTED, loc,
                     "keyword \"%s\" at %s: \"%s\": only references inside the same document "
                     "(\"#\" or \"#/json/pointer\") are supported",
                     keyword, loc, ref);
        return false;
    }
    for (p = ref + 1; *p == '/' && target;) {
        size_t n = 0;
        for (p++; *p && *p != '/' && n + 1 < sizeof(segment); p++) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1'))
                segment[n++] = *++p == '0' ? '~' : '/';
            else
                segment[n++] = *p;
        }
        segment[n] = '\0';
        if (json_is_object(target)) {
            target = json_object_get(target, segment);
        } else if (json_is_array(target)) {
            char *end;
            unsigned long index = strtoul(segment, &end, 10);
            target = *segment && !*end ? json_array_get(target, index) : NULL;
        } else {
            target = NULL;
        }
    }
    if (!target || (!json_is_object(target) && !json_is_boolean(target))) {
        df_error_set(c->err, DF_ERR_INVALID, loc,
                     "keyword \"%s\" at %s: \"%s\" does not point to a schema", keyword, loc, ref);
        return false;
    }
    node->ref = compile(c, target, ref);
    return node->ref != NULL;
}

static const struct keyword {
    const char *name;
    keyword_fn compile; /* NULL: an annotation, ignored */
} keywords[] = {
    { "$schema", kw_schema_uri },
    { "$id", kw_id },
    { "$comment", NULL },
    { "$defs", kw_defs },
    { "$ref", kw_ref },
    { "title", NULL },
    { "description", kw_description },
    { "default", NULL },
    { "examples", NULL },
    { "format", NULL },
    { "deprecated", NULL },
    { "readOnly", NULL },
    { "writeOnly", NULL },
    { "type", kw_type },
    { "enum", kw_enum },
    { "const", kw_const },
    { "properties", kw_properties },
    { "patternProperties", kw_pattern_properties },
    { "additionalProperties", kw_subschema },
    { "propertyNames", kw_subschema },
    { "required", kw_required },
    { "dependentRequired", kw_dependent_required },
    { "minProperties", kw_count },
    { "maxProperties", kw_count },
    { "items", kw_subschema },
    { "prefixItems", kw_schema_list },
    { "minItems", kw_count },
    { "maxItems", kw_count },
    { "uniqueItems", kw_unique_items },
    { "minLength", kw_count },
    { "maxLength", kw_count },
    { "pattern", kw_pattern },
    { "minimum", kw_bound },
    { "maximum", kw_bound },
    { "exclusiveMinimum", kw_bound },
    { "exclusiveMaximum", kw_bound },
    { "multipleOf", kw_bound },
    { "allOf", kw_schema_list },
    { "anyOf", kw_schema_list },
    { "oneOf", kw_schema_list },
    { "not", kw_subschema },
    { "if", kw_subschema },
    { "then", kw_subschema },
    { "else", kw_subschema },
};

static const struct keyword *find_keyword(const char *name)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcmp(keywords[i].name, name) == 0)
            return &keywords[i];
    return NULL;
}

/* Compile the schema src (object or boolean) found at loc, or return the
 * node already compiled for it ($ref cycles end here). */
static sch_node_t *compile(compiler_t *c, const json_t *src, const char *loc)
{
    df_schema_t *s = c->schema;
    sch_node_t *node;
    const char *name;
    json_t *value;
    char child[LOCATION_MAX];

    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->src == src)
            return s->nodes[i];
    if (!json_is_object(src) && !json_is_boolean(src)) {
        df_error_set(c->err, DF_ERR_INVALID, loc, "schema at %s: expected an object or a boolean",
                     loc);
        return NULL;
    }
    node = calloc(1, sizeof(*node));
    if (!node || !(node->location = strdup(loc)) || !add_node(s, node)) {
        if (node)
            free(node->location);
        free(node);
        nomem(c, loc);
        return NULL;
    }
    node->src = src;
    node->min_props = node->max_props = node->min_items = node->max_items = -1;
    node->min_length = node->max_length = -1;
    if (json_is_boolean(src)) {
        node->is_bool = true;
        node->bool_value = json_is_true(src);
        return node;
    }
    json_object_foreach((json_t *)src, name, value)
    {
        const struct keyword *keyword = find_keyword(name);
        location_join(child, sizeof(child), loc, name);
        if (!keyword) {
            df_error_set(c->err, DF_ERR_UNSUPPORTED, child,
                         "unsupported keyword \"%s\" at %s: df_schema implements the draft "
                         "2020-12 subset listed in common/df_schema.h",
                         name, loc);
            return NULL;
        }
        if (keyword->compile && !keyword->compile(c, node, name, value, child))
            return NULL;
    }
    return node;
}

/* ---- public API ------------------------------------------------------ */

df_schema_t *df_schema_load(const json_t *document, df_error_t *err)
{
    df_schema_t *s;
    compiler_t c;

    if (!document) {
        df_error_set(err, DF_ERR_INVALID, "#", "no schema document");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->doc = json_deep_copy(document))) {
        free(s);
        df_error_set(err, DF_ERR_NOMEM, "#", "out of memory loading a schema");
        return NULL;
    }
    s->id = "";
    c.schema = s;
    c.err = err;
    s->root = compile(&c, s->doc, "#");
    if (!s->root) {
        df_schema_destroy(s);
        return NULL;
    }
    return s;
}

df_schema_t *df_schema_load_file(const char *path, df_error_t *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    df_schema_t *s;

    if (!doc) {
        bool io = json_error_code(&jerr) == json_error_cannot_open_file;
        df_error_set(err, io ? DF_ERR_IO : DF_ERR_INVALID, path, "%s:%d:%d: %s", path, jerr.line,
                     jerr.column, jerr.text);
        return NULL;
    }
    s = df_schema_load(doc, err);
    json_decref(doc);
    if (!s)
        df_error_prefix(err, "%s", path);
    return s;
}

df_schema_t *df_schema_load_named(const char *name, df_error_t *err)
{
    const char *env = getenv("DATAFLEET_SCHEMA_DIR");
    const char *dirs[2];
    size_t ndirs = 0;
    char path[2][1024];

    if (!name || !*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name)) {
        df_error_set(err, DF_ERR_INVALID, "name",
                     "expected a schema name of a-z, 0-9, '_' and '-' (e.g. \"task\")");
        return NULL;
    }
    if (env && *env) {
        dirs[ndirs++] = env;
    } else {
        dirs[ndirs++] = DF_SOURCE_DIR "/schemas";
        dirs[ndirs++] = DF_DATADIR "/schemas";
    }
    for (size_t i = 0; i < ndirs; i++) {
        snprintf(path[i], sizeof(path[i]), "%s/%s.v1.schema.json", dirs[i], name);
        if (access(path[i], F_OK) == 0)
            return df_schema_load_file(path[i], err);
    }
    df_error_set(err, DF_ERR_NOT_FOUND, name, "schema \"%s\" not found: tried %s%s%s%s", name,
                 path[0], ndirs > 1 ? " and " : "", ndirs > 1 ? path[1] : "",
                 env && *env ? " (from DATAFLEET_SCHEMA_DIR)" : "");
    return NULL;
}

void df_schema_destroy(df_schema_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nnodes; i++)
        node_free(s->nodes[i]);
    for (size_t i = 0; i < s->nregexes; i++) {
        regfree(&s->regexes[i]->re);
        free(s->regexes[i]);
    }
    free(s->nodes);
    free(s->regexes);
    json_decref(s->doc);
    free(s);
}

const char *df_schema_id(const df_schema_t *s)
{
    return s && s->id ? s->id : "";
}

bool df_schema_validate(const df_schema_t *s, const json_t *instance, df_error_t *err)
{
    if (!s || !instance) {
        df_error_set(err, DF_ERR_INVALID, "", "no %s to validate", s ? "document" : "schema");
        return false;
    }
    return sch_validate(s->root, instance, err, err ? 1 : 0) == 0;
}

size_t df_schema_validate_all(const df_schema_t *s, const json_t *instance, df_error_t *errs,
                              size_t max)
{
    if (!s || !instance) {
        if (max > 0)
            df_error_set(errs, DF_ERR_INVALID, "", "no %s to validate", s ? "document" : "schema");
        return 1;
    }
    return sch_validate(s->root, instance, errs, max);
}
