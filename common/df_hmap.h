/* df_hmap: a small string-keyed hash map (separate chaining, grows by
 * doubling). Keys are copied; values are borrowed pointers the caller
 * manages. Not thread-safe: guard it with the owner's lock. */
#ifndef DF_HMAP_H
#define DF_HMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct df_hmap df_hmap_t;

/* NULL on allocation failure. */
df_hmap_t *df_hmap_new(void);
/* Frees the map and its key copies, not the values. NULL is a no-op. */
void df_hmap_destroy(df_hmap_t *map);

/* Value for key (len bytes, need not be NUL-terminated), or NULL. */
void *df_hmap_get(const df_hmap_t *map, const char *key, size_t len);
/* Insert or replace. false on allocation failure. */
bool df_hmap_put(df_hmap_t *map, const char *key, size_t len, void *value);
/* Remove; returns the value that was there, or NULL. */
void *df_hmap_remove(df_hmap_t *map, const char *key, size_t len);
size_t df_hmap_count(const df_hmap_t *map);

/* Call fn for each entry (order unspecified); fn must not change the map. */
void df_hmap_each(const df_hmap_t *map, void (*fn)(void *ctx, const char *key, void *value),
                  void *ctx);

#endif
