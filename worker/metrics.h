/* metrics: the worker's Prometheus metrics (df_metrics.h). Labels are a
 * task type, a connector kind or name (bounded by the registry), an outcome
 * or an error code: never a task id. */
#ifndef DF_WORKER_METRICS_H
#define DF_WORKER_METRICS_H

#include <stdint.h>

/* Register every worker metric (so each is exported from the start). */
void df_wm_init(void);

/* A run of a task began (the lease is ours): started_total, in flight. */
void df_wm_started(const char *type, const char *kind);
/* A run ended, whatever the outcome (in flight goes down). */
void df_wm_ended(const char *type);
/* An outcome: finished_total{outcome}; errors_total{code} when code is set
 * and the outcome is not a success; the duration when seconds >= 0. */
void df_wm_finished(const char *type, const char *kind, const char *outcome, const char *code,
                    double seconds);
void df_wm_dlq(const char *reason);
void df_wm_quarantined(void);
void df_wm_export_rows(const char *connector, int64_t rows);

#endif
