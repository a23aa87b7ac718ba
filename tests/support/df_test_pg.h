/* df_test_pg: PostgreSQL helpers the integration tests share (scratch
 * databases next to the stack's own). */
#ifndef DF_TEST_PG_H
#define DF_TEST_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "df_test.h"

/* url with its database replaced by dbname, as a conninfo string. */
static inline void df_test_url_with_dbname(const char *url, const char *dbname, char *out,
                                           size_t len)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    size_t used = 0;

    REQUIRE(opts != NULL);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *value = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
        if (!value || !*value)
            continue;
        used += (size_t)snprintf(out + used, len - used, "%s='", o->keyword);
        for (const char *p = value; *p && used + 3 < len; p++) {
            if (*p == '\'' || *p == '\\')
                out[used++] = '\\';
            out[used++] = *p;
        }
        used += (size_t)snprintf(out + used, len - used, "' ");
        REQUIRE(used < len);
    }
    PQconninfoFree(opts);
}

#endif
