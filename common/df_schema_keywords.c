/* df_schema_keywords: validating an instance against the compiled schema
 * nodes of df_schema_internal.h: one function per family of keywords, the
 * error messages (JSON Pointer of the value + what was expected), and JSON
 * Schema equality. Nothing here allocates: paths are built in one buffer
 * on the stack, sub-evaluations (anyOf branches, if, not) share it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_schema_internal.h"

/* The instance path, shared by a validation and all its sub-evaluations;
 * every push is undone by a pop before the pusher returns. */
typedef struct walk {
    char path[SCH_PATH_MAX];
    size_t len;
    unsigned depth;
} walk_t;

enum { KIND_OTHER, KIND_TYPE };

/* How every missing-property message starts (explain() looks for it). */
#define MISSING "missing required property "

/* Where one evaluation puts its errors: errs[0..max-1]; max 0 keeps only
 * the verdict (count becomes 1 at the first failure and evaluation stops). */
typedef struct vctx {
    walk_t *walk;
    df_error_t *errs;
    size_t max;
    size_t count;
    int first_kind; /* KIND_TYPE when the first failure was a type mismatch */
} vctx_t;

/* The value being checked: a JSON value, or (json NULL) an object key that
 * propertyNames checks as a string without building a json_t for it. */
typedef struct inst {
    const json_t *json;
    const char *key;
    size_t key_len;
} inst_t;

static bool validate(const sch_node_t *node, const inst_t *in, vctx_t *v);

/* ---- values: types, equality, rendering ------------------------------ */

bool sch_is_integer(const json_t *v)
{
    double d;
    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    return isfinite(d) && d == floor(d);
}

size_t sch_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static int number_cmp(const json_t *a, const json_t *b)
{
    long double x, y;
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t i = json_integer_value(a), j = json_integer_value(b);
        return (i > j) - (i < j);
    }
    x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
    y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
    return (x > y) - (x < y);
}

bool sch_json_equal(const json_t *a, const json_t *b)
{
    const char *key;
    json_t *value;

    if (json_is_number(a) && json_is_number(b))
        return number_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!sch_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, key, value)
        {
            const json_t *other = json_object_get(b, key);
            if (!other || !sch_json_equal(value, other))
                return false;
        }
        return true;
    default: /* true, false, null */ return true;
    }
}

static bool inst_equal(const inst_t *in, const json_t *value)
{
    if (in->json)
        return sch_json_equal(in->json, value);
    return json_is_string(value) && json_string_length(value) == in->key_len &&
           memcmp(json_string_value(value), in->key, in->key_len) == 0;
}

static unsigned inst_types(const inst_t *in)
{
    if (!in->json)
        return SCH_STRING;
    switch (json_typeof(in->json)) {
    case JSON_OBJECT: return SCH_OBJECT;
    case JSON_ARRAY: return SCH_ARRAY;
    case JSON_STRING: return SCH_STRING;
    case JSON_INTEGER: return SCH_NUMBER | SCH_INTEGER;
    case JSON_REAL: return SCH_NUMBER | (sch_is_integer(in->json) ? SCH_INTEGER : 0);
    case JSON_TRUE:
    case JSON_FALSE: return SCH_BOOLEAN;
    default: return SCH_NULL;
    }
}

/* "integer or array"; NUMBER hides INTEGER (a number covers integers). */
static void type_names(unsigned types, char *out, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = { { SCH_OBJECT, "object" },   { SCH_ARRAY, "array" },   { SCH_STRING, "string" },
                  { SCH_INTEGER, "integer" }, { SCH_NUMBER, "number" }, { SCH_BOOLEAN, "boolean" },
                  { SCH_NULL, "null" } };
    size_t o = 0, n = 0, total = 0;
    if (types & SCH_NUMBER)
        types &= ~(unsigned)SCH_INTEGER;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        total += (types & names[i].bit) != 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && o < size; i++) {
        if (!(types & names[i].bit))
            continue;
        n++;
        o += (size_t)snprintf(out + o, size - o, "%s%s",
                              n == 1       ? ""
                              : n == total ? " or "
                                           : ", ",
                              names[i].name);
    }
}

/* A string for a message: quoted, escaped, cut after 40 code points. */
static void render_string(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0, points = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xC0) != 0x80 && ++points > 40) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    /* never end inside a UTF-8 sequence */
    while (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
        o--;
    if (o > 1 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
        o--;
    out[o++] = '"';
    out[o] = '\0';
}

static void render_number(const json_t *value, char *out, size_t size)
{
    if (json_is_integer(value)) {
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(out, size, "%.*g", precision, json_real_value(value));
        if (strtod(out, NULL) == json_real_value(value))
            return;
    }
}

/* A JSON value as a message shows it: "merge", 5, true, an object. */
static void render(const json_t *value, char *out, size_t size)
{
    switch (json_typeof(value)) {
    case JSON_STRING:
        render_string(json_string_value(value), json_string_length(value), out, size);
        break;
    case JSON_INTEGER:
    case JSON_REAL: render_number(value, out, size); break;
    case JSON_TRUE: snprintf(out, size, "true"); break;
    case JSON_FALSE: snprintf(out, size, "false"); break;
    case JSON_NULL: snprintf(out, size, "null"); break;
    case JSON_OBJECT: snprintf(out, size, "an object"); break;
    default: snprintf(out, size, "an array"); break;
    }
}

static void render_inst(const inst_t *in, char *out, size_t size)
{
    if (in->json)
        render(in->json, out, size);
    else
        render_string(in->key, in->key_len, out, size);
}

/* A value with its type, for type errors: string "x", number 4, an array. */
static void describe_inst(const inst_t *in, char *out, size_t size)
{
    unsigned types = inst_types(in);
    const char *type = types & SCH_STRING    ? "string "
                       : types & SCH_NUMBER  ? "number "
                       : types & SCH_BOOLEAN ? "boolean "
                                             : "";
    size_t len = strlen(type);
    memcpy(out, type, len + 1);
    render_inst(in, out + len, size - len);
}

/* "one of "a", "b", "c"" for enum messages, cut to fit. */
static void render_list(const json_t *values, char *out, size_t size)
{
    size_t o = 0;
    char item[160];
    for (size_t i = 0; i < json_array_size(values) && o < size; i++) {
        render(json_array_get(values, i), item, sizeof(item));
        o += (size_t)snprintf(out + o, size - o, "%s%s", i ? ", " : "", item);
    }
}

/* ---- paths and errors ------------------------------------------------ */

static size_t push_key(walk_t *w, const char *key, size_t len)
{
    size_t mark = w->len, o = w->len;
    if (o + 1 < sizeof(w->path))
        w->path[o++] = '/';
    for (size_t i = 0; i < len && o + 2 < sizeof(w->path); i++) {
        if (key[i] == '~' || key[i] == '/') {
            w->path[o++] = '~';
            w->path[o++] = key[i] == '~' ? '0' : '1';
        } else {
            w->path[o++] = key[i];
        }
    }
    w->path[o] = '\0';
    w->len = o;
    return mark;
}

static size_t push_index(walk_t *w, size_t index)
{
    size_t mark = w->len;
    int n = snprintf(w->path + w->len, sizeof(w->path) - w->len, "/%zu", index);
    if (n > 0)
        w->len = w->len + (size_t)n < sizeof(w->path) ? w->len + (size_t)n : sizeof(w->path) - 1;
    return mark;
}

static void pop(walk_t *w, size_t mark)
{
    w->len = mark;
    w->path[mark] = '\0';
}

/* Record a failure at the current path. Returns false, for `return fail()`. */
static bool fail(vctx_t *v, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(vctx_t *v, int kind, const char *fmt, ...)
{
    if (v->count == 0)
        v->first_kind = kind;
    if (v->count < v->max) {
        va_list ap;
        va_start(ap, fmt);
        df_error_setv(&v->errs[v->count], DF_ERR_INVALID, v->walk->path, fmt, ap);
        va_end(ap);
    }
    v->count++;
    return false;
}

/* After a failure: has this evaluation collected all it may? */
static bool stop(const vctx_t *v)
{
    return v->count >= v->max;
}

/* Add why, a then/else rule's description, to the missing-property errors
 * among errors first..count: the rule is why the property is needed. Other
 * errors found under the rule are about their own values. */
static void explain(vctx_t *v, size_t first, const char *why)
{
    for (size_t i = first; i < v->count && i < v->max; i++) {
        df_error_t *e = &v->errs[i];
        size_t len = strlen(e->message);
        if (strncmp(e->message, MISSING, strlen(MISSING)) == 0)
            snprintf(e->message + len, sizeof(e->message) - len, " (%s)", why);
    }
}

/* Does in satisfy node? No errors recorded, the path is left as it was. */
static bool probe(const sch_node_t *node, const inst_t *in, walk_t *w)
{
    vctx_t quiet = { w, NULL, 0, 0, KIND_OTHER };
    return validate(node, in, &quiet);
}

/* ---- objects --------------------------------------------------------- */

static int prop_key_cmp(const void *key, const void *prop)
{
    return strcmp(key, ((const sch_prop_t *)prop)->name);
}

static bool unknown_property(const sch_node_t *node, const char *key, size_t len, vctx_t *v)
{
    char name[160], allowed[400];
    size_t o = 0;
    render_string(key, len, name, sizeof(name));
    allowed[0] = '\0';
    for (size_t i = 0; i < node->nprops && o < sizeof(allowed); i++)
        o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s%s", i ? ", " : "",
                              node->props[i].name);
    if (node->nprops == 0)
        return fail(v, KIND_OTHER, "unknown property %s: no other properties are allowed here",
                    name);
    return fail(v, KIND_OTHER, "unknown property %s; expected one of: %s", name, allowed);
}

/* One member: propertyNames, then properties / patternProperties /
 * additionalProperties for its value. The path is already at the member. */
static bool check_member(const sch_node_t *node, const char *key, const json_t *value, vctx_t *v)
{
    size_t len = strlen(key), before = v->count;
    bool ok = true, matched = false;
    inst_t member = { value, NULL, 0 };
    const sch_prop_t *prop;

    if (node->property_names) {
        inst_t name = { NULL, key, len };
        if (!validate(node->property_names, &name, v)) {
            char shown[160];
            render_string(key, len, shown, sizeof(shown));
            for (size_t i = before; i < v->count && i < v->max; i++)
                df_error_prefix(&v->errs[i], "property name %s is not allowed", shown);
            if (stop(v))
                return false;
            ok = false;
        }
    }
    prop =
        node->nprops ? bsearch(key, node->props, node->nprops, sizeof(*prop), prop_key_cmp) : NULL;
    if (prop) {
        matched = true;
        if (!validate(prop->node, &member, v)) {
            ok = false;
            if (stop(v))
                return false;
        }
    }
    for (size_t i = 0; i < node->npattern_props; i++) {
        regmatch_t range[1] = { { 0, (regoff_t)len } };
        if (regexec(&node->pattern_props[i].regex->re, key, 1, range, REG_STARTEND) != 0)
            continue;
        matched = true;
        if (!validate(node->pattern_props[i].node, &member, v)) {
            ok = false;
            if (stop(v))
                return false;
        }
    }
    if (!matched && node->additional) {
        if (node->additional->is_bool && !node->additional->bool_value)
            return unknown_property(node, key, len, v) && ok;
        if (!validate(node->additional, &member, v))
            ok = false;
    }
    return ok;
}

static bool check_object(const sch_node_t *node, const json_t *object, vctx_t *v)
{
    walk_t *w = v->walk;
    size_t size = json_object_size(object), mark;
    const char *key;
    json_t *value;
    bool ok = true;
    char shown[160];

    for (size_t i = 0; i < json_array_size(node->required); i++) {
        const json_t *name = json_array_get(node->required, i);
        if (json_object_get(object, json_string_value(name)))
            continue;
        render(name, shown, sizeof(shown));
        mark = push_key(w, json_string_value(name), json_string_length(name));
        ok = fail(v, KIND_OTHER, MISSING "%s", shown);
        pop(w, mark);
        if (stop(v))
            return false;
    }
    if (node->min_props >= 0 && size < (uint64_t)node->min_props) {
        ok = fail(v, KIND_OTHER, "expected at least %lld propert%s, got %zu",
                  (long long)node->min_props, node->min_props == 1 ? "y" : "ies", size);
        if (stop(v))
            return false;
    }
    if (node->max_props >= 0 && size > (uint64_t)node->max_props) {
        ok = fail(v, KIND_OTHER, "expected at most %lld propert%s, got %zu",
                  (long long)node->max_props, node->max_props == 1 ? "y" : "ies", size);
        if (stop(v))
            return false;
    }
    if (node->dependent_required) {
        const char *trigger;
        json_t *names;
        json_object_foreach((json_t *)node->dependent_required, trigger, names)
        {
            if (!json_object_get(object, trigger))
                continue;
            for (size_t i = 0; i < json_array_size(names); i++) {
                const char *name = json_string_value(json_array_get(names, i));
                if (json_object_get(object, name))
                    continue;
                render(json_array_get(names, i), shown, sizeof(shown));
                mark = push_key(w, name, strlen(name));
                ok = fail(v, KIND_OTHER, MISSING "%s (because \"%s\" is present)", shown, trigger);
                pop(w, mark);
                if (stop(v))
                    return false;
            }
        }
    }
    if (!node->nprops && !node->npattern_props && !node->additional && !node->property_names)
        return ok;
    json_object_foreach((json_t *)object, key, value)
    {
        bool member_ok;
        mark = push_key(w, key, strlen(key));
        member_ok = check_member(node, key, value, v);
        pop(w, mark);
        if (!member_ok) {
            ok = false;
            if (stop(v))
                return false;
        }
    }
    return ok;
}

/* ---- arrays, strings, numbers ---------------------------------------- */

static bool check_array(const sch_node_t *node, const json_t *array, vctx_t *v)
{
    walk_t *w = v->walk;
    size_t size = json_array_size(array);
    bool ok = true;

    if (node->min_items >= 0 && size < (uint64_t)node->min_items) {
        ok = fail(v, KIND_OTHER, "expected at least %lld item%s, got %zu",
                  (long long)node->min_items, node->min_items == 1 ? "" : "s", size);
        if (stop(v))
            return false;
    }
    if (node->max_items >= 0 && size > (uint64_t)node->max_items) {
        ok = fail(v, KIND_OTHER, "expected at most %lld item%s, got %zu",
                  (long long)node->max_items, node->max_items == 1 ? "" : "s", size);
        if (stop(v))
            return false;
    }
    for (size_t i = 0; i < size && (i < node->nprefix || node->items); i++) {
        const sch_node_t *item = i < node->nprefix ? node->prefix[i] : node->items;
        inst_t element = { json_array_get(array, i), NULL, 0 };
        size_t mark = push_index(w, i);
        bool item_ok;
        if (item->is_bool && !item->bool_value && i >= node->nprefix)
            item_ok = fail(v, KIND_OTHER, "unexpected item: expected at most %zu item%s",
                           node->nprefix, node->nprefix == 1 ? "" : "s");
        else
            item_ok = validate(item, &element, v);
        pop(w, mark);
        if (!item_ok) {
            ok = false;
            if (stop(v))
                return false;
        }
    }
    if (node->unique_items) {
        for (size_t i = 1; i < size; i++) {
            for (size_t j = 0; j < i; j++) {
                if (!sch_json_equal(json_array_get(array, i), json_array_get(array, j)))
                    continue;
                ok = fail(v, KIND_OTHER, "expected unique items, but items %zu and %zu are equal",
                          j, i);
                if (stop(v))
                    return false;
                i = size; /* one report per array */
                break;
            }
        }
    }
    return ok;
}

static bool check_string(const sch_node_t *node, const inst_t *in, vctx_t *v)
{
    const char *s = in->json ? json_string_value(in->json) : in->key;
    size_t len = in->json ? json_string_length(in->json) : in->key_len;
    bool ok = true;

    if (node->min_length >= 0 || node->max_length >= 0) {
        size_t chars = sch_utf8_length(s, len);
        if (node->min_length >= 0 && chars < (uint64_t)node->min_length) {
            ok = fail(v, KIND_OTHER, "expected at least %lld character%s, got %zu",
                      (long long)node->min_length, node->min_length == 1 ? "" : "s", chars);
            if (stop(v))
                return false;
        }
        if (node->max_length >= 0 && chars > (uint64_t)node->max_length) {
            ok = fail(v, KIND_OTHER, "expected at most %lld character%s, got %zu",
                      (long long)node->max_length, node->max_length == 1 ? "" : "s", chars);
            if (stop(v))
                return false;
        }
    }
    if (node->pattern) {
        regmatch_t range[1] = { { 0, (regoff_t)len } };
        if (regexec(&node->pattern->re, s, 1, range, REG_STARTEND) != 0) {
            char shown[160];
            render_inst(in, shown, sizeof(shown));
            ok = fail(v, KIND_OTHER, "expected a string matching %s, got %s%s%s%s",
                      node->pattern->source, shown, node->description ? " (" : "",
                      node->description ? node->description : "", node->description ? ")" : "");
        }
    }
    return ok;
}

static bool is_multiple(const json_t *x, const json_t *m)
{
    double q;
    if (json_is_integer(x) && json_is_integer(m))
        return json_integer_value(x) % json_integer_value(m) == 0;
    if (json_is_integer(m))
        return fmod(json_number_value(x), json_number_value(m)) == 0;
    q = json_number_value(x) / json_number_value(m);
    return isfinite(q) && q == trunc(q);
}

static bool check_number(const sch_node_t *node, const json_t *number, vctx_t *v)
{
    static const char *const relation[] = { ">=", "<=", ">", "<" };
    const json_t *bounds[] = { node->minimum, node->maximum, node->exclusive_minimum,
                               node->exclusive_maximum };
    const char *noun =
        (node->types & SCH_INTEGER) && !(node->types & SCH_NUMBER) ? "an integer" : "a number";
    char limit[64], got[64];
    bool ok = true;

    render_number(number, got, sizeof(got));
    for (int i = 0; i < 4; i++) {
        int cmp;
        bool good;
        if (!bounds[i])
            continue;
        cmp = number_cmp(number, bounds[i]);
        good = i == 0 ? cmp >= 0 : i == 1 ? cmp <= 0 : i == 2 ? cmp > 0 : cmp < 0;
        if (good)
            continue;
        render_number(bounds[i], limit, sizeof(limit));
        ok = fail(v, KIND_OTHER, "expected %s %s %s, got %s", noun, relation[i], limit, got);
        if (stop(v))
            return false;
    }
    if (node->multiple_of && !is_multiple(number, node->multiple_of)) {
        render_number(node->multiple_of, limit, sizeof(limit));
        ok = fail(v, KIND_OTHER, "expected a multiple of %s, got %s", limit, got);
    }
    return ok;
}

/* ---- applicators ----------------------------------------------------- */

/* The types a schema asks for, through $refs ("type" of a branch). */
static unsigned wanted_types(const sch_node_t *node)
{
    for (int hops = 0; node && hops < 16; hops++, node = node->ref)
        if (node->types)
            return node->types;
    return 0;
}

/* No branch of an anyOf / oneOf matched: report the most helpful branch
 * error: the one that got deepest into the instance, preferring a branch
 * of the right type; when every branch wants another type, say so once. */
static bool explain_branches(sch_node_t *const *branches, size_t count, const inst_t *in, vctx_t *v)
{
    df_error_t best, error;
    int best_kind = KIND_OTHER;
    size_t best_depth = 0;
    unsigned types = 0;
    bool all_type_errors = true;

    if (v->max == 0)
        return fail(v, KIND_OTHER, "no alternative matched");
    for (size_t i = 0; i < count; i++) {
        vctx_t branch = { v->walk, &error, 1, 0, KIND_OTHER };
        size_t depth;
        df_error_init(&error);
        validate(branches[i], in, &branch);
        depth = strlen(error.field);
        if (branch.first_kind != KIND_TYPE || depth != v->walk->len)
            all_type_errors = false;
        types |= wanted_types(branches[i]);
        if (i == 0 || depth > best_depth ||
            (depth == best_depth && best_kind == KIND_TYPE && branch.first_kind != KIND_TYPE)) {
            best = error;
            best_kind = branch.first_kind;
            best_depth = depth;
        }
    }
    if (all_type_errors && types) {
        char want[96], got[160];
        type_names(types, want, sizeof(want));
        describe_inst(in, got, sizeof(got));
        return fail(v, KIND_TYPE, "expected %s, got %s", want, got);
    }
    if (v->count == 0)
        v->first_kind = best_kind;
    if (v->count < v->max)
        v->errs[v->count] = best;
    v->count++;
    return false;
}

static bool check_any_of(const sch_node_t *node, const inst_t *in, vctx_t *v)
{
    for (size_t i = 0; i < node->nany_of; i++)
        if (probe(node->any_of[i], in, v->walk))
            return true;
    return explain_branches(node->any_of, node->nany_of, in, v);
}

static bool check_one_of(const sch_node_t *node, const inst_t *in, vctx_t *v)
{
    size_t matched = 0, first = 0;
    for (size_t i = 0; i < node->none_of; i++) {
        if (!probe(node->one_of[i], in, v->walk))
            continue;
        if (matched++ == 0) {
            first = i;
            continue;
        }
        return fail(v, KIND_OTHER,
                    "expected exactly one alternative (oneOf) to match, but "
                    "alternatives %zu and %zu both do",
                    first, i);
    }
    return matched == 1 || explain_branches(node->one_of, node->none_of, in, v);
}

static bool check_not(const sch_node_t *node, const inst_t *in, vctx_t *v)
{
    const sch_node_t *not_schema = node->not_schema;
    char list[400];

    if (!probe(not_schema, in, v->walk))
        return true;
    if (not_schema->enum_values) {
        render_list(not_schema->enum_values, list, sizeof(list));
        return fail(v, KIND_OTHER, "must not be one of %s", list);
    }
    if (not_schema->const_value) {
        render(not_schema->const_value, list, sizeof(list));
        return fail(v, KIND_OTHER, "must not be %s", list);
    }
    if (not_schema->description)
        return fail(v, KIND_OTHER, "refused: %s", not_schema->description);
    return fail(v, KIND_OTHER, "must not match the schema at %s", not_schema->location);
}

static bool check_conditional(const sch_node_t *node, const inst_t *in, vctx_t *v)
{
    const sch_node_t *branch =
        probe(node->if_schema, in, v->walk) ? node->then_schema : node->else_schema;
    size_t before = v->count;

    if (!branch || validate(branch, in, v))
        return true;
    if (branch->description)
        explain(v, before, branch->description);
    return false;
}

/* ---- one schema ------------------------------------------------------ */

static bool check_type_enum_const(const sch_node_t *node, const inst_t *in, unsigned types,
                                  vctx_t *v)
{
    char want[96], got[160], list[400];
    bool ok = true;

    if (node->types && !(node->types & types)) {
        type_names(node->types, want, sizeof(want));
        describe_inst(in, got, sizeof(got));
        ok = fail(v, KIND_TYPE, "expected %s, got %s", want, got);
        if (stop(v))
            return false;
    }
    if (node->enum_values) {
        size_t i, n = json_array_size(node->enum_values);
        for (i = 0; i < n && !inst_equal(in, json_array_get(node->enum_values, i)); i++)
            ;
        if (i == n) {
            render_list(node->enum_values, list, sizeof(list));
            render_inst(in, got, sizeof(got));
            ok = fail(v, KIND_OTHER, "expected one of %s, got %s", list, got);
            if (stop(v))
                return false;
        }
    }
    if (node->const_value && !inst_equal(in, node->const_value)) {
        render(node->const_value, list, sizeof(list));
        render_inst(in, got, sizeof(got));
        ok = fail(v, KIND_OTHER, "expected %s, got %s", list, got);
    }
    return ok;
}

static bool validate(const sch_node_t *node, const inst_t *in, vctx_t *v)
{
    unsigned types = inst_types(in);
    bool ok = true;

    if (node->is_bool)
        return node->bool_value || fail(v, KIND_OTHER, "no value is allowed here");
    if (v->walk->depth >= SCH_DEPTH_MAX)
        return fail(v, KIND_OTHER, "nested deeper than %d schema levels", SCH_DEPTH_MAX);
    v->walk->depth++;
#define STEP(check)       \
    do {                  \
        if (!(check)) {   \
            ok = false;   \
            if (stop(v))  \
                goto out; \
        }                 \
    } while (0)
    STEP(check_type_enum_const(node, in, types, v));
    if (types & SCH_OBJECT)
        STEP(check_object(node, in->json, v));
    else if (types & SCH_ARRAY)
        STEP(check_array(node, in->json, v));
    else if (types & SCH_STRING)
        STEP(check_string(node, in, v));
    else if (types & SCH_NUMBER)
        STEP(check_number(node, in->json, v));
    if (node->ref)
        STEP(validate(node->ref, in, v));
    for (size_t i = 0; i < node->nall_of; i++)
        STEP(validate(node->all_of[i], in, v));
    if (node->nany_of)
        STEP(check_any_of(node, in, v));
    if (node->none_of)
        STEP(check_one_of(node, in, v));
    if (node->not_schema)
        STEP(check_not(node, in, v));
    if (node->if_schema)
        STEP(check_conditional(node, in, v));
#undef STEP
out:
    v->walk->depth--;
    return ok;
}

size_t sch_validate(const sch_node_t *root, const json_t *instance, df_error_t *errs, size_t max)
{
    walk_t walk;
    vctx_t v = { &walk, errs, max, 0, KIND_OTHER };
    inst_t in = { instance, NULL, 0 };

    walk.path[0] = '\0';
    walk.len = 0;
    walk.depth = 0;
    validate(root, &in, &v);
    return v.count;
}
