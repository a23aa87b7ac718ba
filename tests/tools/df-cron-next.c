/* df-cron-next: df_cron in batch, for tests/unit/cron_oracle.py. Reads one
 * case per line on stdin, "EXPRESSION<TAB>ZONE<TAB>AFTER_MS<TAB>COUNT"
 * (ZONE may be empty: UTC), and writes one line per case:
 *   ok<TAB>MS MS ...          up to COUNT next fire times, each strictly
 *                             after the previous one (fewer when the
 *                             expression stops firing within the horizon)
 *   error<TAB>FIELD<TAB>MESSAGE
 * Exits 2 on a malformed input line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_cron.h"

int main(void)
{
    char line[1024];
    unsigned long lineno = 0;

    while (fgets(line, sizeof(line), stdin)) {
        char *fields[4];
        char *p = line, *end;
        int n = 0;
        long long after, count;
        df_error_t err;
        df_cron_t *cron;

        lineno++;
        line[strcspn(line, "\n")] = '\0';
        while (n < 4) {
            fields[n++] = p;
            p = strchr(p, '\t');
            if (!p)
                break;
            *p++ = '\0';
        }
        if (n != 4) {
            fprintf(stderr, "df-cron-next: line %lu: expected 4 tab-separated fields\n", lineno);
            return 2;
        }
        after = strtoll(fields[2], &end, 10);
        count = strtoll(fields[3], NULL, 10);
        if (*end || count < 0 || count > 100000) {
            fprintf(stderr, "df-cron-next: line %lu: bad AFTER_MS or COUNT\n", lineno);
            return 2;
        }
        df_error_init(&err);
        cron = df_cron_parse(fields[0], fields[1], &err);
        if (!cron) {
            printf("error\t%s\t%s\n", err.field, err.message);
            continue;
        }
        fputs("ok\t", stdout);
        for (long long i = 0; i < count; i++) {
            int64_t next;
            if (!df_cron_next(cron, (int64_t)after, &next))
                break;
            printf(i ? " %lld" : "%lld", (long long)next);
            after = next;
        }
        putchar('\n');
        df_cron_free(cron);
    }
    return 0;
}
