/* faults: fault rules by route name, and the vendor-shaped answers they
 * produce. */
#include "faults.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra.h"
#include "google_oauth.h"
#include "powerbi.h"
#include "sheets.h"
#include "looker.h"
#include "qlik.h"
#include "tableau.h"

#define MAX_LATENCY_MS (10 * 60 * 1000)

typedef struct fault_rule {
    int id;
    char *route; /* exact name, or a prefix ending in '*' */
    int status;
    int64_t count; /* calls left to fault; -1 = until cleared */
    int64_t after; /* matching calls still to let through first */
    int64_t retry_after_s;
    int64_t latency_ms;
    bool drop;
    bool drop_after;
    json_t *body;
    char *content_type;
    int64_t applied;
    struct fault_rule *next;
} fault_rule_t;

struct sb_faults {
    fault_rule_t *head;
    int next_id;
};

sb_faults_t *sb_faults_new(void)
{
    sb_faults_t *faults = calloc(1, sizeof(*faults));

    if (faults)
        faults->next_id = 1;
    return faults;
}

static void rule_free(fault_rule_t *rule)
{
    free(rule->route);
    json_decref(rule->body);
    free(rule->content_type);
    free(rule);
}

size_t sb_faults_clear(sb_faults_t *faults)
{
    size_t n = 0;

    while (faults->head) {
        fault_rule_t *next = faults->head->next;

        rule_free(faults->head);
        faults->head = next;
        n++;
    }
    return n;
}

void sb_faults_destroy(sb_faults_t *faults)
{
    if (!faults)
        return;
    sb_faults_clear(faults);
    free(faults);
}

/* An optional integer field within [min, max]; false (err set) when it is
 * there but is not such an integer. */
static bool get_int(const json_t *spec, const char *name, int64_t min, int64_t max, int64_t *out,
                    char *err, size_t err_len)
{
    const json_t *v = json_object_get(spec, name);

    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, err_len, "%s: expected an integer from %lld to %lld", name, (long long)min,
                 (long long)max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

int sb_faults_add(sb_faults_t *faults, const json_t *spec, char *err, size_t err_len)
{
    const json_t *route = json_object_get(spec, "route");
    const json_t *drop = json_object_get(spec, "drop_connection");
    const json_t *body = json_object_get(spec, "body");
    const json_t *ctype = json_object_get(spec, "content_type");
    int64_t status = 0, count = 1, after = 0, retry = -1, latency = 0;
    fault_rule_t *rule, **tail;

    if (!json_is_object(spec)) {
        snprintf(err, err_len, "expected a JSON object");
        return 0;
    }
    if (!json_is_string(route) || json_string_length(route) == 0) {
        snprintf(err, err_len, "route: expected a route name (see docs/SANDBOX.md)");
        return 0;
    }
    if (!get_int(spec, "status", 0, 599, &status, err, err_len) ||
        !get_int(spec, "count", -1, INT32_MAX, &count, err, err_len) ||
        !get_int(spec, "after", 0, INT32_MAX, &after, err, err_len) ||
        !get_int(spec, "retry_after_s", 0, 86400, &retry, err, err_len) ||
        !get_int(spec, "latency_ms", 0, MAX_LATENCY_MS, &latency, err, err_len))
        return 0;
    if (status != 0 && status < 100) {
        snprintf(err, err_len, "status: expected 0 or an HTTP status from 100 to 599");
        return 0;
    }
    if (count == 0) {
        snprintf(err, err_len, "count: expected at least 1, or -1 for until cleared");
        return 0;
    }
    if (drop && !json_is_boolean(drop)) {
        snprintf(err, err_len, "drop_connection: expected true or false");
        return 0;
    }
    if (ctype && !json_is_string(ctype)) {
        snprintf(err, err_len, "content_type: expected a string");
        return 0;
    }
    if (json_object_get(spec, "drop_after_handling") &&
        !json_is_boolean(json_object_get(spec, "drop_after_handling"))) {
        snprintf(err, err_len, "drop_after_handling: expected true or false");
        return 0;
    }
    if (status == 0 && !json_is_true(drop) && latency == 0 &&
        !json_is_true(json_object_get(spec, "drop_after_handling"))) {
        snprintf(err, err_len, "a fault needs status, latency_ms or drop_connection");
        return 0;
    }
    rule = calloc(1, sizeof(*rule));
    if (!rule) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    rule->id = faults->next_id++;
    rule->route = strdup(json_string_value(route));
    rule->status = (int)status;
    rule->count = count;
    rule->after = after;
    rule->retry_after_s = retry;
    rule->latency_ms = latency;
    rule->drop = json_is_true(drop) || json_is_true(json_object_get(spec, "drop_after_handling"));
    rule->drop_after = json_is_true(json_object_get(spec, "drop_after_handling"));
    rule->body = body ? json_incref((json_t *)body) : NULL;
    rule->content_type = ctype ? strdup(json_string_value(ctype)) : NULL;
    for (tail = &faults->head; *tail; tail = &(*tail)->next)
        ;
    *tail = rule;
    return rule->id;
}

static bool route_matches(const char *pattern, const char *route)
{
    size_t n = strlen(pattern);

    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, route, n - 1) == 0;
    return strcmp(pattern, route) == 0;
}

bool sb_faults_take(sb_faults_t *faults, const char *route, sb_fault_t *out)
{
    fault_rule_t **link = &faults->head;

    memset(out, 0, sizeof(*out));
    while (*link) {
        fault_rule_t *rule = *link;

        if (!route_matches(rule->route, route)) {
            link = &rule->next;
            continue;
        }
        if (rule->after > 0) {
            rule->after--;
            link = &rule->next;
            continue;
        }
        out->status = rule->status;
        out->retry_after_s = rule->retry_after_s;
        out->latency_ms = rule->latency_ms;
        out->drop = rule->drop;
        out->drop_after = rule->drop_after;
        out->body = rule->body ? json_incref(rule->body) : NULL;
        out->content_type = rule->content_type ? strdup(rule->content_type) : NULL;
        rule->applied++;
        if (rule->count > 0 && --rule->count == 0) {
            *link = rule->next;
            rule_free(rule);
        }
        return true;
    }
    return false;
}

void sb_fault_free(sb_fault_t *fault)
{
    json_decref(fault->body);
    free(fault->content_type);
    memset(fault, 0, sizeof(*fault));
}

json_t *sb_faults_json(const sb_faults_t *faults)
{
    json_t *list = json_array();

    for (const fault_rule_t *r = faults->head; r; r = r->next) {
        json_array_append_new(list,
                              json_pack("{s:i, s:s, s:i, s:I, s:I, s:I, s:I, s:b, s:O?, s:I}", "id",
                                        r->id, "route", r->route, "status", r->status, "count",
                                        (json_int_t)r->count, "after", (json_int_t)r->after,
                                        "retry_after_s", (json_int_t)r->retry_after_s, "latency_ms",
                                        (json_int_t)r->latency_ms, "drop_connection", r->drop,
                                        "body", r->body, "applied", (json_int_t)r->applied));
    }
    return json_pack("{s:o}", "faults", list);
}

/* The vendor's own words for a status, used when a rule gives no body. */
static void vendor_answer(sb_vendor_t vendor, int status, sb_response_t *res)
{
    switch (vendor) {
    case SB_VENDOR_ENTRA:
        if (status >= 500)
            sb_entra_error(res, status, "temporarily_unavailable", 50196,
                           "The server is temporarily unable to handle the request. "
                           "Please retry the request.");
        else if (status == 429)
            sb_entra_error(res, status, "temporarily_unavailable", 50196,
                           "The server encountered a client request loop. Please retry later.");
        else
            sb_entra_error(res, status, "invalid_request", 900144,
                           "The request was refused by an injected fault.");
        break;
    case SB_VENDOR_POWERBI:
        if (status == 429)
            sb_powerbi_error(res, status, "TooManyRequests",
                             "You have exceeded the amount of requests allowed in the current "
                             "time frame and further requests will fail.");
        else if (status >= 500)
            sb_powerbi_error(res, status, "ServiceUnavailable",
                             "The service is temporarily unavailable (status %d).", status);
        else
            sb_powerbi_error(res, status, "InjectedFault", "Injected fault (status %d).", status);
        break;
    case SB_VENDOR_GOOGLE_OAUTH:
        if (status >= 500)
            sb_google_error(res, status, "internal_failure", "Backend Error");
        else
            sb_google_error(res, status, "invalid_request", "Injected fault.");
        break;
    case SB_VENDOR_SHEETS:
        if (status == 429)
            sb_sheets_error(res, status, "RATE_LIMIT_EXCEEDED",
                            "Quota exceeded for quota metric 'Write requests' and limit 'Write "
                            "requests per minute per user' of service 'sheets.googleapis.com'.");
        else if (status == 503)
            sb_sheets_error(res, status, NULL, "The service is currently unavailable.");
        else if (status >= 500)
            sb_sheets_error(res, status, NULL, "Internal error encountered.");
        else
            sb_sheets_error(res, status, NULL, "Injected fault (status %d).", status);
        break;
    case SB_VENDOR_TABLEAU:
        if (status == 429)
            sb_tableau_error(res, status, "429000", "Too Many Requests",
                             "The rate limit was exceeded.");
        else if (status >= 500)
            sb_tableau_error(res, status, "500000", "Internal Server Error",
                             "The server encountered an error (status %d).", status);
        else
            sb_tableau_error(res, status, "400000", "Injected Fault", "Injected fault (status %d).",
                             status);
        break;
    case SB_VENDOR_LOOKER:
        if (status == 429)
            sb_looker_error(res, status, "Too many requests: the API rate limit was exceeded.");
        else if (status >= 500)
            sb_looker_error(res, status, "Internal server error (status %d).", status);
        else
            sb_looker_error(res, status, "Injected fault (status %d).", status);
        break;
    case SB_VENDOR_QLIK:
        if (status == 429)
            sb_qlik_error(res, status, "HTTP-429", "Too Many Requests", "Rate limit exceeded.");
        else if (status >= 500)
            sb_qlik_error(res, status, "HTTP-500", "Internal Server Error",
                          "The service failed (status %d).", status);
        else
            sb_qlik_error(res, status, "HTTP-400", "Injected Fault", "Injected fault (status %d).",
                          status);
        break;
    default:
        sb_res_json(res, status,
                    json_pack("{s:s, s:i}", "error", "injected fault", "status", status));
        break;
    }
}

void sb_fault_respond(const sb_fault_t *fault, sb_vendor_t vendor, sb_response_t *res)
{
    if (fault->body && json_is_string(fault->body)) {
        const char *text = json_string_value(fault->body);

        sb_res_json(res, fault->status, NULL);
        res->body = strdup(text);
        res->body_len = res->body ? strlen(text) : 0;
        res->content_type = "text/plain; charset=utf-8";
        if (fault->content_type) {
            res->content_type = NULL;
            sb_res_header(res, "Content-Type", "%s", fault->content_type);
        }
    } else if (fault->body) {
        sb_res_json(res, fault->status, json_incref(fault->body));
    } else {
        vendor_answer(vendor, fault->status, res);
    }
    if (fault->retry_after_s >= 0)
        sb_res_header(res, "Retry-After", "%lld", (long long)fault->retry_after_s);
}
