/* api_assets: the status page's files (scheduler/api/static/), embedded in
 * the binary at build time by embed_assets.cmake (the generated
 * api_assets.c lives in the build tree). */
#ifndef DF_API_ASSETS_H
#define DF_API_ASSETS_H

#include <stddef.h>

typedef struct api_asset {
    const char *name;          /* the file name: "index.html", "app.js" */
    const unsigned char *data; /* its bytes (followed by a NUL, not counted) */
    size_t len;
} api_asset_t;

/* Every embedded file, ended by an entry whose name is NULL. */
extern const api_asset_t api_assets[];

#endif
