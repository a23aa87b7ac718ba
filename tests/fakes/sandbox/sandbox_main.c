/* datafleet-sandbox: one loopback HTTP server standing in for Microsoft
 * Entra + Power BI REST, Google OAuth2 + Sheets v4, Tableau REST + Metadata
 * API, Looker API 4.0 and Qlik Cloud reloads in tests, following
 * their published contracts (docs/SANDBOX.md). Its first stdout line is
 * {"listening":"http://127.0.0.1:PORT"}; logs are JSON lines on stderr;
 * SIGTERM/SIGINT stop it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "df_config.h"
#include "df_log.h"
#include "df_program.h"
#include "sandbox.h"
#include "sandbox_http.h"

#define OPT(name, env, type, def, min, max, choices, help, field)                      \
    {                                                                                  \
        name, env, type, def, min, max, choices, help, offsetof(sb_config_t, field), 0 \
    }

static const df_option_t options[] = {
    OPT("listen", "DATAFLEET_SANDBOX_LISTEN", DF_OPT_STRING, "127.0.0.1:18790", 0, 0, NULL,
        "address to serve on, host:port (a loopback address only)", listen),
    OPT("port", "DATAFLEET_SANDBOX_PORT", DF_OPT_INT, "-1", -1, 65535, NULL,
        "port to serve on, overriding --listen's (0: a free port, printed on stdout)", port),
    OPT("log-level", "DATAFLEET_LOG_LEVEL", DF_OPT_ENUM, "info", 0, 0, "debug|info|warn|error",
        "lowest level logged (JSON lines on stderr)", log_level),
    OPT("minute-ms", "DATAFLEET_SANDBOX_MINUTE_MS", DF_OPT_INT, "60000", 10, 3600000, NULL,
        "real milliseconds in a sandbox minute (every per-minute and per-hour quota)", minute_ms),
    OPT("token-ttl", "DATAFLEET_SANDBOX_TOKEN_TTL", DF_OPT_INT, "3599", 1, 86400, NULL,
        "lifetime in seconds of issued access tokens (expires_in)", token_ttl_s),
    OPT("google-token-audience", "DATAFLEET_SANDBOX_GOOGLE_TOKEN_AUDIENCE", DF_OPT_STRING, NULL, 0,
        0, NULL, "aud a Google JWT must carry (default: http://<listen>/token)",
        google_token_audience),
    OPT("jwt-skew", "DATAFLEET_SANDBOX_JWT_SKEW", DF_OPT_INT, "60", 0, 3600, NULL,
        "seconds a Google JWT's iat may lie in the future", jwt_skew_s),
    OPT("max-body-bytes", "DATAFLEET_SANDBOX_MAX_BODY_BYTES", DF_OPT_INT, "67108864", 1024,
        1073741824, NULL, "largest request body read; larger ones are answered 413",
        max_body_bytes),
    OPT("powerbi-max-rows-per-post", "DATAFLEET_SANDBOX_POWERBI_MAX_ROWS_PER_POST", DF_OPT_INT,
        "10000", 1, 100000000, NULL, "Power BI: rows in one POST rows request",
        pbi_max_rows_per_post),
    OPT("powerbi-posts-per-minute", "DATAFLEET_SANDBOX_POWERBI_POSTS_PER_MINUTE", DF_OPT_INT, "120",
        1, 100000000, NULL, "Power BI: POST rows requests per minute per dataset",
        pbi_posts_per_minute),
    OPT("powerbi-rows-per-hour", "DATAFLEET_SANDBOX_POWERBI_ROWS_PER_HOUR", DF_OPT_INT, "1000000",
        1, 1000000000, NULL, "Power BI: rows added per hour per dataset", pbi_rows_per_hour),
    OPT("powerbi-large-table-rows", "DATAFLEET_SANDBOX_POWERBI_LARGE_TABLE_ROWS", DF_OPT_INT,
        "250000", 1, 1000000000, NULL,
        "Power BI: table rows from which POST rows requests are limited per hour",
        pbi_large_table_rows),
    OPT("powerbi-large-posts-per-hour", "DATAFLEET_SANDBOX_POWERBI_LARGE_POSTS_PER_HOUR",
        DF_OPT_INT, "120", 1, 100000000, NULL,
        "Power BI: POST rows requests per hour per dataset with such a table",
        pbi_large_posts_per_hour),
    OPT("powerbi-max-pending-posts", "DATAFLEET_SANDBOX_POWERBI_MAX_PENDING_POSTS", DF_OPT_INT, "5",
        1, 100000, NULL,
        "Power BI: POST rows requests per dataset in progress at once (more are answered 429)",
        pbi_max_pending_posts),
    OPT("powerbi-max-tables", "DATAFLEET_SANDBOX_POWERBI_MAX_TABLES", DF_OPT_INT, "75", 1, 100000,
        NULL, "Power BI: tables per push dataset", pbi_max_tables),
    OPT("powerbi-max-columns", "DATAFLEET_SANDBOX_POWERBI_MAX_COLUMNS", DF_OPT_INT, "75", 1, 100000,
        NULL, "Power BI: columns per table", pbi_max_columns),
    OPT("powerbi-max-string-chars", "DATAFLEET_SANDBOX_POWERBI_MAX_STRING_CHARS", DF_OPT_INT,
        "4000", 1, 100000000, NULL,
        "Power BI: characters (UTF-16 units) of a string value in POST rows", pbi_max_string_chars),
    OPT("powerbi-fifo-max-rows", "DATAFLEET_SANDBOX_POWERBI_FIFO_MAX_ROWS", DF_OPT_INT, "200000", 1,
        1000000000, NULL, "Power BI: rows kept per table of a basicFIFO dataset",
        pbi_fifo_max_rows),
    OPT("powerbi-max-rows-per-table", "DATAFLEET_SANDBOX_POWERBI_MAX_ROWS_PER_TABLE", DF_OPT_INT,
        "5000000", 1, 1000000000, NULL,
        "Power BI: rows per table of a dataset without retention policy", pbi_max_rows_per_table),
    OPT("powerbi-expired-status", "DATAFLEET_SANDBOX_POWERBI_EXPIRED_STATUS", DF_OPT_INT, "403",
        401, 403, NULL, "Power BI: HTTP status of TokenExpired (the service answers 403)",
        pbi_expired_status),
    OPT("powerbi-refreshes-per-day", "DATAFLEET_SANDBOX_POWERBI_REFRESHES_PER_DAY", DF_OPT_INT, "8",
        1, 1000000, NULL,
        "Power BI: refreshes per dataset per day on shared capacity (a day is 1440 sandbox "
        "minutes)",
        pbi_refreshes_per_day),
    OPT("tableau-refreshes-per-minute", "DATAFLEET_SANDBOX_TABLEAU_REFRESHES_PER_MINUTE",
        DF_OPT_INT, "60", 1, 1000000, NULL,
        "Tableau: refresh requests per sandbox minute (then 429)", tableau_refreshes_per_minute),
    OPT("qlik-reload-posts", "DATAFLEET_SANDBOX_QLIK_RELOAD_POSTS", DF_OPT_INT, "250", 1, 1000000,
        NULL, "Qlik: reload requests (POST /api/v1/reloads) per 5 sandbox minutes (then 429)",
        qlik_reload_posts),
    OPT("sheets-read-per-minute-project", "DATAFLEET_SANDBOX_SHEETS_READ_PER_MINUTE_PROJECT",
        DF_OPT_INT, "300", 1, 100000000, NULL, "Sheets: read requests per minute per project",
        sheets_read_project),
    OPT("sheets-read-per-minute-user", "DATAFLEET_SANDBOX_SHEETS_READ_PER_MINUTE_USER", DF_OPT_INT,
        "60", 1, 100000000, NULL, "Sheets: read requests per minute per user per project",
        sheets_read_user),
    OPT("sheets-write-per-minute-project", "DATAFLEET_SANDBOX_SHEETS_WRITE_PER_MINUTE_PROJECT",
        DF_OPT_INT, "300", 1, 100000000, NULL, "Sheets: write requests per minute per project",
        sheets_write_project),
    OPT("sheets-write-per-minute-user", "DATAFLEET_SANDBOX_SHEETS_WRITE_PER_MINUTE_USER",
        DF_OPT_INT, "60", 1, 100000000, NULL,
        "Sheets: write requests per minute per user per project", sheets_write_user),
    OPT("sheets-max-cells", "DATAFLEET_SANDBOX_SHEETS_MAX_CELLS", DF_OPT_INT, "10000000", 1,
        1000000000, NULL, "Sheets: cells per spreadsheet (all sheets' grids)", sheets_max_cells),
    OPT("sheets-max-payload-bytes", "DATAFLEET_SANDBOX_SHEETS_MAX_PAYLOAD_BYTES", DF_OPT_INT,
        "10485760", 1, 1073741824, NULL,
        "Sheets: request payload size limit (Google recommends 2 MB)", sheets_max_payload),
};

static const df_exit_code_t exit_codes[] = {
    { DF_EXIT_OK, "stopped by SIGTERM/SIGINT" },
    { DF_EXIT_FAILURE, "could not listen or start" },
    { DF_EXIT_USAGE, "bad option or value (e.g. a non-loopback --listen)" },
};

static const df_program_t program = {
    .name = "datafleet-sandbox",
    .summary = "A loopback stand-in for Microsoft Entra + Power BI REST and Google OAuth2 +\n"
               "Sheets v4 that follows their published contracts and limits, with fault\n"
               "injection and inspection under /_sandbox/ (see docs/SANDBOX.md).",
    .usage = "[OPTIONS]",
    .details = NULL,
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .exit_codes = exit_codes,
    .n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]),
};

/* Parse host:port of --listen (and --port) into a loopback IPv4 address.
 * false with a message on stderr. */
static bool listen_address(const sb_config_t *cfg, struct sockaddr_in *addr)
{
    char host[128];
    const char *colon = strrchr(cfg->listen, ':');
    long port = -1;

    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    if (!colon || (size_t)(colon - cfg->listen) >= sizeof(host)) {
        fprintf(stderr, "%s: --listen: expected host:port, got \"%s\"\n", program.name,
                cfg->listen);
        return false;
    }
    memcpy(host, cfg->listen, (size_t)(colon - cfg->listen));
    host[colon - cfg->listen] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (cfg->port >= 0) {
        port = (long)cfg->port;
    } else {
        char *end;

        port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535)
            port = -1;
    }
    if (port < 0 || inet_pton(AF_INET, host, &addr->sin_addr) != 1 ||
        (ntohl(addr->sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr,
                "%s: --listen: expected a loopback IPv4 address 127.x.x.x:port, got \"%s\"\n",
                program.name, cfg->listen);
        return false;
    }
    addr->sin_port = htons((uint16_t)port);
    return true;
}

static int open_listener(const struct sockaddr_in *addr, struct sockaddr_in *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    socklen_t len = sizeof(*bound);

    if (fd < 0) {
        df_error("socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)bound, &len) != 0) {
        df_error("bind/listen on %s:%u: %s", inet_ntoa(addr->sin_addr), ntohs(addr->sin_port),
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    sb_config_t cfg;
    df_args_t args;
    df_parse_result_t parsed;
    df_log_level_t level = DF_LOG_INFO;
    struct sockaddr_in addr, bound;
    struct MHD_Daemon *daemon;
    sb_state_t *st;
    char base_url[64];
    int fd, rc = DF_EXIT_OK;

    memset(&cfg, 0, sizeof(cfg));
    parsed = df_config_parse(&program, &cfg, argc, argv, &args);
    if (parsed == DF_PARSE_RUN && args.count > 0) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", program.name, args.values[0]);
        parsed = DF_PARSE_USAGE;
    }
    if (parsed == DF_PARSE_RUN && !listen_address(&cfg, &addr))
        parsed = DF_PARSE_USAGE;
    if (parsed != DF_PARSE_RUN) {
        df_config_free(&program, &cfg);
        df_args_free(&args);
        return parsed == DF_PARSE_EXIT ? DF_EXIT_OK : DF_EXIT_USAGE;
    }
    df_log_level_parse(cfg.log_level, &level);
    df_log_init("sandbox", level);
    df_program_handle_signals();
    fd = open_listener(&addr, &bound);
    if (fd < 0) {
        df_config_free(&program, &cfg);
        df_args_free(&args);
        return DF_EXIT_FAILURE;
    }
    snprintf(base_url, sizeof(base_url), "http://%s:%u", inet_ntoa(bound.sin_addr),
             ntohs(bound.sin_port));
    st = sb_state_new(&cfg, base_url);
    daemon = st ? sb_http_start(st, fd) : NULL;
    if (!daemon) {
        rc = DF_EXIT_FAILURE;
    } else {
        printf("{\"listening\":\"%s\"}\n", base_url);
        fflush(stdout);
        df_info("listening on %s (minute = %lld ms, token ttl = %lld s, google aud = %s)", base_url,
                (long long)cfg.minute_ms, (long long)cfg.token_ttl_s, st->google_audience);
        while (!df_program_stopping()) {
            struct timespec ts = { 0, 100 * 1000000L };

            nanosleep(&ts, NULL);
        }
        df_info("stopping");
        sb_http_stop(daemon);
    }
    close(fd);
    sb_state_destroy(st);
    df_config_free(&program, &cfg);
    df_args_free(&args);
    return rc;
}
