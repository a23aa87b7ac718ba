/* schedules: a part of the cron role's leader loop (see cron_role.h). */
#include "cron_role.h"

int64_t df_schedules_tick(df_cron_ctx_t *ctx)
{
    (void)ctx;
    return 1000;
}

void df_schedules_stop(df_cron_ctx_t *ctx)
{
    (void)ctx;
}
