/* delayed: a part of the cron role's leader loop (see cron_role.h). */
#include "cron_role.h"

int64_t df_delayed_tick(df_cron_ctx_t *ctx)
{
    (void)ctx;
    return 1000;
}

void df_delayed_stop(df_cron_ctx_t *ctx)
{
    (void)ctx;
}
