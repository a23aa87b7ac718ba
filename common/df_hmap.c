/* df_hmap: string-keyed hash map (see df_hmap.h). */
#include "df_hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    size_t len;
    void *value;
    char key[]; /* len bytes + NUL */
} entry_t;

struct df_hmap {
    entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

/* FNV-1a, 64 bit. */
static uint64_t hash_bytes(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

df_hmap_t *df_hmap_new(void)
{
    df_hmap_t *map = calloc(1, sizeof(*map));
    if (!map)
        return NULL;
    map->nbuckets = 64;
    map->buckets = calloc(map->nbuckets, sizeof(entry_t *));
    if (!map->buckets) {
        free(map);
        return NULL;
    }
    return map;
}

void df_hmap_destroy(df_hmap_t *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->nbuckets; i++) {
        entry_t *e = map->buckets[i];
        while (e) {
            entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(map->buckets);
    free(map);
}

static entry_t **find_slot(const df_hmap_t *map, const char *key, size_t len, uint64_t hash)
{
    entry_t **slot = &map->buckets[hash & (map->nbuckets - 1)];
    for (; *slot; slot = &(*slot)->next)
        if ((*slot)->hash == hash && (*slot)->len == len && memcmp((*slot)->key, key, len) == 0)
            break;
    return slot;
}

void *df_hmap_get(const df_hmap_t *map, const char *key, size_t len)
{
    entry_t **slot = find_slot(map, key, len, hash_bytes(key, len));
    return *slot ? (*slot)->value : NULL;
}

static bool grow(df_hmap_t *map)
{
    size_t n = map->nbuckets * 2;
    entry_t **buckets = calloc(n, sizeof(entry_t *));

    if (!buckets)
        return false;
    for (size_t i = 0; i < map->nbuckets; i++) {
        entry_t *e = map->buckets[i];
        while (e) {
            entry_t *next = e->next;
            e->next = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->nbuckets = n;
    return true;
}

bool df_hmap_put(df_hmap_t *map, const char *key, size_t len, void *value)
{
    uint64_t hash = hash_bytes(key, len);
    entry_t **slot = find_slot(map, key, len, hash);
    entry_t *e;

    if (*slot) {
        (*slot)->value = value;
        return true;
    }
    e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return false;
    e->hash = hash;
    e->len = len;
    e->value = value;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->next = NULL;
    *slot = e;
    map->count++;
    if (map->count > map->nbuckets * 2)
        grow(map); /* on failure the map keeps working, only slower */
    return true;
}

void *df_hmap_remove(df_hmap_t *map, const char *key, size_t len)
{
    entry_t **slot = find_slot(map, key, len, hash_bytes(key, len));
    entry_t *e = *slot;
    void *value;

    if (!e)
        return NULL;
    *slot = e->next;
    value = e->value;
    free(e);
    map->count--;
    return value;
}

size_t df_hmap_count(const df_hmap_t *map)
{
    return map->count;
}

void df_hmap_each(const df_hmap_t *map, void (*fn)(void *ctx, const char *key, void *value),
                  void *ctx)
{
    for (size_t i = 0; i < map->nbuckets; i++)
        for (entry_t *e = map->buckets[i]; e; e = e->next)
            fn(ctx, e->key, e->value);
}
