/* pipelines: a part of the cron role's leader loop (see cron_role.h) and
 * the creation of runs (pipelines.h). */
#include "pipelines.h"

#include "cron_role.h"

df_code_t df_pipeline_run_create(df_pg_t *pg, const json_t *ref, const char *run_id,
                                 const char *schedule_id, int64_t fire_time_ms, bool *created,
                                 df_error_t *err)
{
    (void)pg;
    (void)ref;
    (void)run_id;
    (void)schedule_id;
    (void)fire_time_ms;
    *created = false;
    return df_error_set(err, DF_ERR_UNSUPPORTED, "pipeline", "pipelines are not available yet");
}

int64_t df_pipelines_tick(df_cron_ctx_t *ctx)
{
    (void)ctx;
    return 1000;
}

void df_pipelines_stop(df_cron_ctx_t *ctx)
{
    (void)ctx;
}
