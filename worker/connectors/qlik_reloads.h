/* qlik_reloads: how the qlik connector reads Qlik Cloud's Reloads API
 * answers, without I/O (tests/fakes/specs/qlik-reloads.md): which reload of
 * an app's listing a lost POST made, the end of a script log, and Qlik's
 * error message. */
#ifndef DF_QLIK_RELOADS_H
#define DF_QLIK_RELOADS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far the clocks of Qlik and the worker may differ. */
#define DF_QLIK_SKEW_MS 60000

/* The reload of `data` (an app's reloads, newest first, as
 * GET /api/v1/reloads?appId= lists them) made since a request: among the
 * entries listed above the baseline `before` (the app's newest reload when
 * the request was made; NULL: the app had none; every entry is then above
 * it) whose creationTime is at or after since_ms - DF_QLIK_SKEW_MS, the
 * oldest one: the first reload created after the request. has_before false
 * (a job saved without a baseline) leaves the creation time alone to
 * decide. Returns its id, borrowed from data, or NULL when there is none. */
const char *df_qlik_reload_since(const json_t *data, const char *before, bool has_before,
                                 int64_t since_ms);

/* The last `tail` bytes of a script log into buf (len bytes, always
 * terminated): trailing newlines dropped, lines joined with " | ", control
 * characters left out; "no script log given" when there is nothing. */
void df_qlik_log_tail(const char *log, size_t tail, char *buf, size_t len);

/* Qlik's {"errors": [{"code", "title", "detail"}]} as "code title: detail"
 * into buf (len bytes, always terminated); other bodies through
 * df_http_vendor_message. */
void df_qlik_error_message(const char *body, size_t body_len, char *buf, size_t len);

#endif
