/* df_schema: validates JSON documents (task, event and connector messages)
 * against the JSON Schemas in schemas/, implementing the part of JSON Schema
 * draft 2020-12 those schemas use and refusing, at load time, any keyword it
 * does not implement, so a schema cannot silently say more than is checked.
 *
 * Keywords implemented
 *   any type      type (null boolean object array number string integer;
 *                 1.0 is an integer), enum, const (numbers compare by value:
 *                 1 == 1.0), $ref, allOf, anyOf, oneOf, not, if/then/else,
 *                 boolean schemas (true / false)
 *   objects       properties, required, additionalProperties,
 *                 patternProperties, propertyNames, minProperties,
 *                 maxProperties, dependentRequired
 *   arrays        items, prefixItems, minItems, maxItems, uniqueItems
 *   strings       minLength, maxLength (Unicode code points, not bytes),
 *                 pattern (subset below)
 *   numbers       minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 *                 multipleOf
 *   structure     $defs (anywhere); $ref only to the same document: "#" or
 *                 "#/JSON/Pointer" (~0 ~1 escapes), recursion allowed
 *   annotations   ignored: $schema (must name draft 2020-12 when present),
 *                 $id (root only), title, description, default, examples,
 *                 format (annotation only, as 2020-12 says by default),
 *                 $comment, deprecated, readOnly, writeOnly
 * Anything else (contains, unevaluatedProperties, dependentSchemas,
 * $anchor, $dynamicRef, a misspelt keyword...) fails df_schema_load with
 * DF_ERR_UNSUPPORTED naming the keyword and its schema location.
 *
 * Regular expressions ("pattern", "patternProperties") are ECMA-262 as JSON
 * Schema says, translated at load to POSIX extended regexes (regcomp
 * REG_EXTENDED). The supported subset, all ASCII:
 *   literals, ^ $ (start / end of the string), | ( ) groups, (?: ) groups,
 *   * + ? {n} {n,} {n,m} (greedy only), . (any byte but \n and \r),
 *   [...] and [^...] classes with ranges,
 *   escapes \d \D \w \W \s \S (ASCII meaning), \t \n \r \f \v, and a
 *   backslash before any punctuation (\. \\ \- \/ \[ ...).
 * Refused at load: lookarounds, named groups, lazy quantifiers, back
 * references, \b \B \p \u \x \c \0 and other escapes, non-ASCII characters,
 * a "{" that does not start a quantifier.
 * Matching is byte-wise: "." and negated classes match one byte, so keep
 * them out of counted repetitions meant to count characters (use
 * minLength / maxLength for that). As in ECMA-262, "$" matches only at the
 * very end (Python's re also matches before a final newline).
 *
 * A loaded schema is immutable: any number of threads may validate with it
 * at once. Validation allocates nothing of its own (regexec may).
 */
#ifndef DF_SCHEMA_H
#define DF_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "df_error.h"

typedef struct df_schema df_schema_t;

/* Compile a schema document. The document is borrowed: the schema keeps its
 * own copy. Returns a new schema (caller frees with df_schema_destroy), or
 * NULL with err set: DF_ERR_UNSUPPORTED for a keyword or regex feature
 * outside the subset above, DF_ERR_INVALID for a malformed keyword value or
 * an unresolvable $ref; err->field is the schema location
 * ("#/properties/params/pattern"). */
df_schema_t *df_schema_load(const json_t *schema, df_error_t *err);

/* Read and compile the schema file at path (duplicate keys refused).
 * Returns a new schema (caller frees) or NULL with err set (DF_ERR_IO when
 * unreadable, DF_ERR_INVALID for bad JSON; the message names the file). */
df_schema_t *df_schema_load_file(const char *path, df_error_t *err);

/* Load the named contract: name "task" loads task.v1.schema.json from the
 * first place that has it: $DATAFLEET_SCHEMA_DIR when set (and only there),
 * else the source tree's schemas/, else DF_DATADIR "/schemas". name is
 * lower-case letters, digits, '_' and '-'. Returns a new schema (caller
 * frees) or NULL with err set (DF_ERR_NOT_FOUND lists the places tried). */
df_schema_t *df_schema_load_named(const char *name, df_error_t *err);

/* Free a schema; NULL is a no-op. */
void df_schema_destroy(df_schema_t *schema);

/* The schema's "$id", or "" when it has none. Borrowed: valid until
 * df_schema_destroy. */
const char *df_schema_id(const df_schema_t *schema);

/* Validate instance (borrowed). Returns true when valid; otherwise false
 * with err (may be NULL) set to the first error: code DF_ERR_INVALID, field
 * the JSON Pointer of the offending value ("/params/target/mode", "" for
 * the whole document; a missing required property is named by the path it
 * should have), message what was expected, e.g.
 *   expected one of "append", "replace", "upsert", got "merge"
 * For anyOf / oneOf the error of the branch that came closest is given. */
bool df_schema_validate(const df_schema_t *schema, const json_t *instance, df_error_t *err);

/* Like df_schema_validate, collecting up to max errors into errs[0..max-1]
 * (caller's array; entries past the returned count are untouched). Returns
 * the number of errors stored: 0 when valid. With max == 0 it only checks
 * and returns 0 or 1. */
size_t df_schema_validate_all(const df_schema_t *schema, const json_t *instance, df_error_t *errs,
                              size_t max);

#endif
