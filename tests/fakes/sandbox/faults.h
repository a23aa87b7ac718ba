/* faults: fault injection by route name. A rule fails (or slows, or
 * drops) the next `count` calls of the routes it names, after letting
 * `after` of them through: e.g. {"route":"powerbi.rows.post",
 * "status":503,"count":2}. Rules are tried in the order they were added;
 * the first that applies to a call is used up by it. Not thread-safe:
 * used under sb_state_t.lock. */
#ifndef SB_FAULTS_H
#define SB_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sandbox_http.h"

/* One applied fault (a copy of the rule's effect for one call). */
typedef struct sb_fault {
    int status;            /* error status to answer with; 0 for none */
    int64_t retry_after_s; /* Retry-After header value; -1 for none */
    int64_t latency_ms;    /* added before anything else; 0 for none */
    bool drop;             /* close the connection without answering */
    bool drop_after;       /* ...after the request was handled (a lost answer) */
    json_t *body;          /* body to send instead of the vendor's (new ref) */
    char *content_type;    /* with body given as a string; malloc'd */
} sb_fault_t;

/* NULL on allocation failure. _destroy(NULL) is a no-op. */
sb_faults_t *sb_faults_new(void);
void sb_faults_destroy(sb_faults_t *faults);

/* Add a rule from its JSON spec. Returns the rule id (>= 1), or 0 with a
 * message in err naming the bad field. */
int sb_faults_add(sb_faults_t *faults, const json_t *spec, char *err, size_t err_len);

/* Remove every rule; returns how many there were. */
size_t sb_faults_clear(sb_faults_t *faults);

/* The rules with what is left of them (new reference). */
json_t *sb_faults_json(const sb_faults_t *faults);

/* Take the fault that applies to one call of route, if any: fills out
 * (free with sb_fault_free) and returns true. */
bool sb_faults_take(sb_faults_t *faults, const char *route, sb_fault_t *out);
void sb_fault_free(sb_fault_t *fault);

/* Answer res with fault's status: the given body, or the vendor's own
 * error shape for that status; adds Retry-After when set. */
void sb_fault_respond(const sb_fault_t *fault, sb_vendor_t vendor, sb_response_t *res);

#endif
