/* pipeline_template: the templates of pipeline step params ("${steps.
 * extract.result.rows_written}", docs/PIPELINES.md): their syntax, which
 * pipeline_def.c checks when a definition is added, and filling them in
 * when a step is published. No I/O. */
#ifndef DF_PIPELINE_TEMPLATE_H
#define DF_PIPELINE_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "df_error.h"

#define DF_PIPELINE_REF_PARTS    16    /* dotted parts of one template */
#define DF_PIPELINE_REF_PART_MAX 128   /* characters of one part, with the NUL */
#define DF_PIPELINE_TEXT_MAX     65536 /* a string with templates, filled in */

/* What one template names: its dotted parts ("steps", "a", "result"). */
typedef struct df_pipeline_ref {
    char seg[DF_PIPELINE_REF_PARTS][DF_PIPELINE_REF_PART_MAX];
    int n;
} df_pipeline_ref_t;

/* The next template of s at or after *pos: its start (the '$') in *begin,
 * its content [*cbegin, *cend), and *pos moved just past its '}'. "$${"
 * is an escape, not a template. Returns 1 when one was found, 0 when there
 * is none, -1 for a "${" without its "}". */
int df_pipeline_template_next(const char *s, size_t *pos, size_t *begin, size_t *cbegin,
                              size_t *cend);

/* Split a template's content s[0, len) ("steps.a.result.rows") into ref.
 * false with err set (DF_ERR_INVALID at field) when a part is empty, too
 * long, or has a character other than letters, digits, _ and -. */
bool df_pipeline_ref_parse(const char *s, size_t len, df_pipeline_ref_t *ref, df_error_t *err,
                           const char *field);

/* Append "/" + key (escaped as RFC 6901 says) or "/" + i to the JSON
 * Pointer in path (size len), truncating. */
void df_pipeline_pointer_add(char *path, size_t len, const char *key);
void df_pipeline_pointer_index(char *path, size_t len, size_t i);

/* Fill in the templates of value (any JSON value; only strings change)
 * from scope, an object {"steps": {NAME: {"result": ..., "task_id": ...}},
 * "run": {"id", "pipeline", "started_at", "fire_time"}} (borrowed). A
 * string that is exactly one template becomes the value, keeping its JSON
 * type; templates in a longer string become the value's text. path is
 * value's JSON Pointer, for messages ("/params"). Returns a new value
 * (caller decrefs), or NULL with err set: DF_ERR_INVALID naming the field
 * and the missing value (a template naming what scope does not have), or
 * DF_ERR_NOMEM. */
json_t *df_pipeline_render(const json_t *value, const json_t *scope, const char *path,
                           df_error_t *err);

/* Append printf-style text to the string in buf (size len), truncating
 * (shared by the pipeline files). */
void df_pipeline_append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
