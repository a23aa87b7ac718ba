/* api_role: the `api` role of datafleet-scheduler: serve the REST API until
 * the process stops. */
#include <unistd.h>

#include "api.h"
#include "df_log.h"
#include "df_program.h"
#include "roles.h"

int df_role_api_run(const df_scheduler_config_t *cfg)
{
    api_server_t *server = api_server_start(cfg);

    if (!server)
        return DF_EXIT_FAILURE;
    while (!df_program_stopping())
        usleep(100 * 1000);
    api_server_stop(server);
    df_info("api: stopped");
    return DF_EXIT_OK;
}
