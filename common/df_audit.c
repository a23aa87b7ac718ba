/* df_audit: audit_log rows (see df_audit.h). */
#include "df_audit.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Mask the string values of every "secrets" object in v (owned copy). */
static void scrub(json_t *v)
{
    const char *key;
    json_t *member;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, member) scrub(member);
        return;
    }
    json_object_foreach(v, key, member)
    {
        if (strcmp(key, "secrets") == 0 && json_is_object(member)) {
            const char *name;
            json_t *value;
            json_object_foreach(member, name, value)
            {
                if (json_is_string(value))
                    json_object_set_new(member, name, json_string("***"));
            }
        } else {
            scrub(member);
        }
    }
}

df_code_t df_audit_record(df_pg_t *pg, const char *actor, const char *action,
                          const char *target_kind, const char *target, const json_t *details,
                          const char *remote_addr, df_error_t *err)
{
    char *text = NULL;
    df_code_t rc;

    if (!actor || !*actor)
        return df_error_set(err, DF_ERR_INVALID, "actor", "expected who made the change");
    if (!action || !*action)
        return df_error_set(err, DF_ERR_INVALID, "action", "expected what was done");
    if (details) {
        json_t *copy = json_deep_copy(details);
        if (!copy)
            return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
        scrub(copy);
        text = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(copy);
        if (!text)
            return df_error_set(err, DF_ERR_NOMEM, NULL, "out of memory");
    }
    {
        const char *params[6] = { actor, action, target_kind, target, text, remote_addr };
        rc = df_pg_run(pg,
                       "INSERT INTO audit_log (actor, action, target_kind, target, details,"
                       " remote_addr) VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
                       6, params, NULL, err);
    }
    free(text);
    return rc;
}

const char *df_audit_cli_actor(char *buf, size_t len)
{
    const char *user = getenv("USER");
    struct passwd pw, *found = NULL;
    char pwbuf[1024];

    if ((!user || !*user) && getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found)
        user = found->pw_name;
    if (user && *user)
        snprintf(buf, len, "cli:%s", user);
    else
        snprintf(buf, len, "cli:uid-%u", (unsigned)getuid());
    return buf;
}
