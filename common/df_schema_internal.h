/* df_schema_internal: the compiled form of a JSON Schema, shared by
 * df_schema.c (loading, compiling, the public API) and df_schema_keywords.c
 * (validating). Not for use outside those two files. */
#ifndef DF_SCHEMA_INTERNAL_H
#define DF_SCHEMA_INTERNAL_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df_error.h"

/* JSON types as a bit set ("type": [...]). INTEGER is a subset of NUMBER. */
enum {
    SCH_NULL = 1u << 0,
    SCH_BOOLEAN = 1u << 1,
    SCH_OBJECT = 1u << 2,
    SCH_ARRAY = 1u << 3,
    SCH_NUMBER = 1u << 4,
    SCH_STRING = 1u << 5,
    SCH_INTEGER = 1u << 6,
};

/* Longest instance path kept while validating; deeper paths are cut. */
#define SCH_PATH_MAX 1024
/* Deepest nesting of schema evaluations (guards $ref loops that do not
 * descend into the instance). */
#define SCH_DEPTH_MAX 1000

typedef struct sch_node sch_node_t;

typedef struct sch_regex {
    regex_t re;
    const char *source; /* the ECMA-262 text, borrowed from the document */
} sch_regex_t;

typedef struct sch_prop {
    const char *name; /* borrowed from the document */
    sch_node_t *node;
} sch_prop_t;

typedef struct sch_pattern_prop {
    sch_regex_t *regex;
    sch_node_t *node;
} sch_pattern_prop_t;

/* One compiled schema object or boolean schema. Pointers to nodes and
 * json_t values are borrowed from the owning df_schema (its nodes list and
 * its copy of the document). Absent keywords are NULL / 0 / -1. */
struct sch_node {
    const json_t *src; /* this schema in the document */
    char *location;    /* "#/properties/x" (owned), for load errors */
    bool is_bool;
    bool bool_value;

    unsigned types; /* 0: no "type" */
    const json_t *enum_values;
    const json_t *const_value;

    sch_prop_t *props; /* sorted by name */
    size_t nprops;
    const json_t *required; /* array of strings */
    sch_node_t *additional;
    sch_pattern_prop_t *pattern_props;
    size_t npattern_props;
    sch_node_t *property_names;
    int64_t min_props, max_props;
    const json_t *dependent_required; /* object: name -> array of names */

    sch_node_t **prefix;
    size_t nprefix;
    sch_node_t *items;
    int64_t min_items, max_items;
    bool unique_items;

    int64_t min_length, max_length;
    sch_regex_t *pattern;

    const json_t *minimum, *maximum, *exclusive_minimum, *exclusive_maximum;
    const json_t *multiple_of;

    sch_node_t **all_of, **any_of, **one_of;
    size_t nall_of, nany_of, none_of;
    sch_node_t *not_schema, *if_schema, *then_schema, *else_schema;
    sch_node_t *ref;
    const char *description; /* explains a then/else rule in its errors */
};

/* Validate instance against node; errors go to errs[0..max-1] (max 0:
 * only the verdict). Returns the number of errors found, counting stops at
 * max (or 1 when max is 0). Defined in df_schema_keywords.c. */
size_t sch_validate(const sch_node_t *root, const json_t *instance, df_error_t *errs, size_t max);

/* Translate an ECMA-262 regex of the subset documented in df_schema.h
 * into a POSIX extended regex. Returns a new string (caller frees), or NULL
 * with why set to the reason (a feature outside the subset, or no memory).
 * Defined in df_schema_regex.c. */
char *sch_regex_translate(const char *ecma, char *why, size_t whylen);

/* Number of Unicode code points in a UTF-8 string of len bytes. */
size_t sch_utf8_length(const char *s, size_t len);

/* JSON Schema equality: numbers by value (1 == 1.0), objects regardless of
 * key order, arrays item by item. */
bool sch_json_equal(const json_t *a, const json_t *b);

/* True for integers and for reals with an integral value. */
bool sch_is_integer(const json_t *v);

#endif
