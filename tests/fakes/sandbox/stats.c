/* stats: request counts per route, per status and per sandbox minute. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_hmap.h"

#define MAX_STATUSES 24

typedef struct status_count {
    int status;
    int64_t count;
} status_count_t;

typedef struct window_count {
    int64_t minute;
    int64_t count;
    status_count_t by_status[MAX_STATUSES];
    int n_status;
} window_count_t;

typedef struct route_stats {
    char *name;
    int64_t total;
    status_count_t by_status[MAX_STATUSES];
    int n_status;
    window_count_t *windows; /* ordered by minute */
    size_t n_windows, cap_windows;
} route_stats_t;

struct sb_stats {
    df_hmap_t *routes; /* name -> route_stats_t* */
};

static void route_free(void *ctx, const char *key, void *value)
{
    route_stats_t *r = value;

    (void)ctx;
    (void)key;
    free(r->name);
    free(r->windows);
    free(r);
}

sb_stats_t *sb_stats_new(void)
{
    sb_stats_t *stats = calloc(1, sizeof(*stats));

    if (!stats)
        return NULL;
    stats->routes = df_hmap_new();
    if (!stats->routes) {
        free(stats);
        return NULL;
    }
    return stats;
}

void sb_stats_destroy(sb_stats_t *stats)
{
    if (!stats)
        return;
    df_hmap_each(stats->routes, route_free, NULL);
    df_hmap_destroy(stats->routes);
    free(stats);
}

void sb_stats_reset(sb_stats_t *stats)
{
    df_hmap_t *fresh = df_hmap_new();

    if (!fresh)
        return;
    df_hmap_each(stats->routes, route_free, NULL);
    df_hmap_destroy(stats->routes);
    stats->routes = fresh;
}

static void count_status(status_count_t *list, int *n, int status)
{
    for (int i = 0; i < *n; i++) {
        if (list[i].status == status) {
            list[i].count++;
            return;
        }
    }
    if (*n < MAX_STATUSES) {
        list[*n].status = status;
        list[*n].count = 1;
        (*n)++;
    }
}

/* The window of `minute`, inserted in order when new (requests finish
 * slightly out of arrival order, so look from the end). */
static window_count_t *window_for(route_stats_t *r, int64_t minute)
{
    size_t i = r->n_windows;

    while (i > 0 && r->windows[i - 1].minute > minute)
        i--;
    if (i > 0 && r->windows[i - 1].minute == minute)
        return &r->windows[i - 1];
    if (r->n_windows == r->cap_windows) {
        size_t cap = r->cap_windows ? r->cap_windows * 2 : 16;
        window_count_t *grown = realloc(r->windows, cap * sizeof(*grown));

        if (!grown)
            return NULL;
        r->windows = grown;
        r->cap_windows = cap;
    }
    memmove(&r->windows[i + 1], &r->windows[i], (r->n_windows - i) * sizeof(*r->windows));
    memset(&r->windows[i], 0, sizeof(*r->windows));
    r->windows[i].minute = minute;
    r->n_windows++;
    return &r->windows[i];
}

void sb_stats_record(sb_stats_t *stats, const char *route, int status, int64_t minute)
{
    route_stats_t *r = df_hmap_get(stats->routes, route, strlen(route));
    window_count_t *w;

    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return;
        r->name = strdup(route);
        if (!r->name || !df_hmap_put(stats->routes, route, strlen(route), r)) {
            free(r->name);
            free(r);
            return;
        }
    }
    r->total++;
    count_status(r->by_status, &r->n_status, status);
    w = window_for(r, minute);
    if (w) {
        w->count++;
        count_status(w->by_status, &w->n_status, status);
    }
}

static json_t *status_json(const status_count_t *list, int n)
{
    json_t *obj = json_object();
    char key[16];

    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%d", list[i].status);
        json_object_set_new(obj, key, json_integer(list[i].count));
    }
    return obj;
}

static bool matches(const char *filter, const char *name)
{
    size_t n;

    if (!filter || !*filter)
        return true;
    n = strlen(filter);
    if (filter[n - 1] == '*')
        return strncmp(filter, name, n - 1) == 0;
    return strcmp(filter, name) == 0;
}

typedef struct dump_ctx {
    const char *filter;
    json_t *routes;
} dump_ctx_t;

static void dump_route(void *ctx, const char *key, void *value)
{
    dump_ctx_t *d = ctx;
    route_stats_t *r = value;
    json_t *windows = json_array();
    int64_t max = 0;

    (void)key;
    if (!matches(d->filter, r->name)) {
        json_decref(windows);
        return;
    }
    for (size_t i = 0; i < r->n_windows; i++) {
        const window_count_t *w = &r->windows[i];

        if (w->count > max)
            max = w->count;
        json_array_append_new(windows, json_pack("{s:I, s:I, s:o}", "minute", (json_int_t)w->minute,
                                                 "count", (json_int_t)w->count, "by_status",
                                                 status_json(w->by_status, w->n_status)));
    }
    json_object_set_new(d->routes, r->name,
                        json_pack("{s:I, s:o, s:o, s:I}", "total", (json_int_t)r->total,
                                  "by_status", status_json(r->by_status, r->n_status), "windows",
                                  windows, "max_per_window", (json_int_t)max));
}

json_t *sb_stats_json(const sb_stats_t *stats, const char *filter)
{
    dump_ctx_t ctx = { filter, json_object() };

    df_hmap_each(stats->routes, dump_route, &ctx);
    return json_pack("{s:o}", "routes", ctx.routes);
}
