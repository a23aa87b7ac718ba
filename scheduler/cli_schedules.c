/* cli_schedules: the `schedules` command of datafleet-scheduler (see commands.h). */
#include <stdio.h>

#include "commands.h"
#include "df_config.h"

int df_cmd_schedules(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "datafleet-scheduler: %s: not available in this build\n", argv[0]);
    return DF_EXIT_USAGE;
}
