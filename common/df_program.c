/* df_program: shared start-up of the datafleet programs. */
#include "df_program.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "df_build.h"
#include "df_log.h"
#include "df_metrics.h"

static volatile sig_atomic_t stop_requested;

df_parse_result_t df_program_start(const df_program_t *prog, void *cfg,
                                   const df_common_config_t *common, const char *component,
                                   int argc, char **argv, df_args_t *args)
{
    df_log_level_t level = DF_LOG_INFO;
    df_parse_result_t rc = df_config_parse(prog, cfg, argc, argv, args);

    if (rc != DF_PARSE_RUN)
        return rc;
    if (common && common->log_level)
        df_log_level_parse(common->log_level, &level);
    df_log_init(component, level);
    /* libcurl's global state is set up once, before any thread starts. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return DF_PARSE_RUN;
}

bool df_program_serve_metrics(const df_program_t *prog, const df_common_config_t *common)
{
    char why[256];

    df_metrics_process(prog->name, DF_VERSION);
    if (!common->metrics_listen || !*common->metrics_listen)
        return true;
    if (!df_metrics_listen(common->metrics_listen, NULL, NULL, why, sizeof(why))) {
        df_error("metrics: %s", why);
        return false;
    }
    df_info("metrics: serving /metrics, /healthz and /readyz on port %d of %s", df_metrics_port(),
            common->metrics_listen);
    return true;
}

static void on_signal(int sig)
{
    static const char msg[] = "second signal: exiting now\n";

    if (stop_requested) {
        ssize_t ignored = write(2, msg, sizeof(msg) - 1);
        (void)ignored;
        _exit(128 + sig);
    }
    stop_requested = 1;
}

void df_program_handle_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool df_program_stopping(void)
{
    return stop_requested != 0;
}

void df_program_request_stop(void)
{
    stop_requested = 1;
}
