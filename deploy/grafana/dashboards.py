#!/usr/bin/env python3
"""Writes the datafleet Grafana boards (deploy/grafana/dashboards/*.json).

The boards are generated so that every panel follows the same layout and so
that the tests can read back each PromQL expression and SQL query
(tests/e2e/observability_test.sh evaluates them against a real
Prometheus and PostgreSQL). Edit this file, run it, commit both:

    deploy/grafana/dashboards.py            # rewrite the JSON files
    deploy/grafana/dashboards.py --check    # exit 1 if they are out of date
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "dashboards")
PROM = {"type": "prometheus", "uid": "datafleet-prometheus"}
PG = {"type": "postgres", "uid": "datafleet-postgres"}


class Board:
    def __init__(self, uid, title, description, tags):
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels = []
        self.x = self.y = 0
        self.row_h = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def prom(self, title, exprs, unit="short", kind="timeseries", w=12, h=8, desc=""):
        """exprs: list of (PromQL, legend)."""
        panel = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": desc,
            "datasource": PROM,
            "gridPos": self._place(w, h),
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [
                {"refId": chr(ord("A") + i), "datasource": PROM, "expr": e,
                 "legendFormat": legend, "range": kind == "timeseries",
                 "instant": kind != "timeseries"}
                for i, (e, legend) in enumerate(exprs)
            ],
        }
        if kind == "stat":
            panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
        self.panels.append(panel)

    def sql(self, title, query, w=24, h=9, desc=""):
        self.panels.append({
            "id": len(self.panels) + 1,
            "type": "table",
            "title": title,
            "description": desc,
            "datasource": PG,
            "gridPos": self._place(w, h),
            "fieldConfig": {"defaults": {}, "overrides": []},
            "options": {"showHeader": True},
            "targets": [{"refId": "A", "datasource": PG, "format": "table", "rawQuery": True,
                         "editorMode": "code", "rawSql": " ".join(query.split())}],
        })

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": []},
            "annotations": {"list": []},
            "panels": self.panels,
        }


def fleet():
    b = Board("datafleet-fleet", "datafleet / Fleet",
              "Throughput, outcomes, durations, backlog and health of the whole fleet.",
              ["datafleet"])
    b.prom("Tasks finished per second, by type",
           [("sum by (type) (rate(datafleet_tasks_finished_total[5m]))", "{{type}}")], "ops")
    b.prom("Success ratio",
           [("sum(rate(datafleet_tasks_finished_total{outcome=\"succeeded\"}[5m])) / "
             "sum(rate(datafleet_tasks_finished_total{outcome!=\"retrying\"}[5m]))", "succeeded")],
           "percentunit", desc="Succeeded over all final outcomes (retries not counted).")
    for q in ("0.5", "0.95", "0.99"):
        b.prom("Task duration p%s by type" % q[2:].ljust(2, "0"),
               [("histogram_quantile(%s, sum by (type, le) "
                 "(rate(datafleet_task_duration_seconds_bucket[5m])))" % q, "{{type}}")], "s", w=8)
    b.prom("Tasks in flight, by type",
           [("sum by (type) (datafleet_tasks_in_flight)", "{{type}}")], w=8)
    b.prom("Workers alive", [("max(datafleet_workers_alive)", "workers")], kind="stat", w=4)
    b.prom("Cron leader", [("max(datafleet_scheduler_leader)", "leader")], kind="stat", w=4,
           desc="1 when one scheduler holds the cron leadership.")
    b.prom("Consumer lag by partition (task topics)",
           [("sum by (topic, partition) (datafleet_kafka_consumer_lag{topic=~\".*tasks\\\\..*\"})",
             "{{topic}}/{{partition}}")], w=12)
    b.prom("Messages sent to the DLQ, by reason",
           [("sum by (reason) (increase(datafleet_dlq_messages_total[1h]))", "{{reason}}")],
           w=12)
    b.prom("Outcomes per second",
           [("sum by (outcome) (rate(datafleet_tasks_finished_total[5m]))", "{{outcome}}")],
           "ops", w=12)
    b.prom("Schedule fire lag p99",
           [("histogram_quantile(0.99, sum by (le) "
             "(rate(datafleet_schedule_fire_lag_seconds_bucket[5m])))", "p99")], "s", w=12)
    b.prom("Recorder lag behind the events",
           [("max(datafleet_recorder_lag_seconds)", "lag")], "s", w=12)
    b.prom("Tasks quarantined and reconciled",
           [("sum(increase(datafleet_tasks_quarantined_total[1h]))", "quarantined"),
            ("sum by (action) (increase(datafleet_reconciler_actions_total[1h]))",
             "reconciler {{action}}")], w=12)
    return b


def connectors():
    b = Board("datafleet-connectors", "datafleet / Connectors",
              "Per connector: rows exported, refresh durations, errors, platform answers and "
              "rate limiting.", ["datafleet"])
    b.prom("Rows exported per second, by connector",
           [("sum by (connector) (rate(datafleet_export_rows_total[5m]))", "{{connector}}")],
           "rowsps")
    b.prom("Refresh duration p95, by connector kind",
           [("histogram_quantile(0.95, sum by (kind, le) "
             "(rate(datafleet_task_duration_seconds_bucket{type=\"refresh\"}[5m])))", "{{kind}}")],
           "s")
    b.prom("Task errors by code (last hour)",
           [("sum by (kind, code) (increase(datafleet_task_errors_total[1h]))",
             "{{kind}} {{code}}")])
    b.prom("Platform answers 429 (per second)",
           [("sum by (platform) (rate(datafleet_http_requests_total{status=\"429\"}[5m]))",
             "{{platform}}")], "reqps")
    b.prom("Requests per second by platform and status",
           [("sum by (platform, status) (rate(datafleet_http_requests_total[5m]))",
             "{{platform}} {{status}}")], "reqps")
    b.prom("Request latency p95 by platform",
           [("histogram_quantile(0.95, sum by (platform, le) "
             "(rate(datafleet_http_request_duration_seconds_bucket[5m])))", "{{platform}}")], "s")
    b.prom("Rate-limiter waits per second",
           [("sum by (platform, limit) (rate(datafleet_ratelimit_waits_total[5m]))",
             "{{platform}} {{limit}}")], "ops")
    b.prom("Time spent waiting for the rate limiter",
           [("sum by (platform, limit) (rate(datafleet_ratelimit_wait_seconds_total[5m]))",
             "{{platform}} {{limit}}")], "s")
    return b


def history():
    b = Board("datafleet-history", "datafleet / History",
              "From the PostgreSQL history: recent failures, slowest tasks, schedules.",
              ["datafleet"])
    b.sql("Recent failures", """
        SELECT finished_at AS "finished", task_id AS "task", type, connector, state,
               error_code AS "error", left(error_message, 200) AS "message", attempt
          FROM tasks
         WHERE state IN ('failed', 'dead')
         ORDER BY finished_at DESC NULLS LAST
         LIMIT 50""")
    b.sql("Slowest tasks (last 7 days)", """
        SELECT task_id AS "task", type, connector, state,
               round(extract(epoch FROM finished_at - started_at)::numeric, 3) AS "seconds",
               coalesce((result->>'rows_written')::bigint, 0) AS "rows", finished_at AS "finished"
          FROM tasks
         WHERE finished_at IS NOT NULL AND started_at IS NOT NULL
           AND finished_at > now() - interval '7 days'
         ORDER BY finished_at - started_at DESC
         LIMIT 20""")
    b.sql("Schedules: source, target, last run and next fire", """
        SELECT s.name AS "schedule", s.expression, s.timezone AS "zone",
               coalesce(s.task_template->'params'->'source'->>'kind',
                        'pipeline ' || (s.pipeline->>'name')) AS "source",
               coalesce(s.task_template->>'connector', '') ||
                 coalesce(' ' || (s.task_template->'params'->'target'->>'table'), '') AS "target",
               CASE WHEN s.paused THEN 'paused' WHEN NOT s.enabled THEN 'disabled'
                    ELSE 'active' END AS "status",
               last.state AS "last run", s.last_fired_at AS "last fired",
               s.next_fire_at AS "next fire"
          FROM schedules s
          LEFT JOIN LATERAL (
                SELECT coalesce(t.state, r.state, 'queued') AS state
                  FROM schedule_fires f
                  LEFT JOIN tasks t ON t.task_id = f.task_id
                  LEFT JOIN pipeline_runs r ON r.id = f.pipeline_run_id
                 WHERE f.schedule_id = s.id ORDER BY f.fire_time DESC LIMIT 1) last ON true
         ORDER BY s.next_fire_at NULLS LAST, s.name""")
    b.sql("Pipeline runs (last 20)", """
        SELECT r.id AS "run", p.name AS "pipeline", r.state, r.started_at AS "started",
               r.finished_at AS "finished",
               (SELECT count(*) FROM pipeline_steps st WHERE st.run_id = r.id
                  AND st.state = 'succeeded') || '/' ||
               (SELECT count(*) FROM pipeline_steps st WHERE st.run_id = r.id) AS "steps done"
          FROM pipeline_runs r JOIN pipelines p ON p.id = r.pipeline_id
         ORDER BY r.started_at DESC
         LIMIT 20""")
    return b


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for board, name in ((fleet(), "fleet"), (connectors(), "connectors"), (history(), "history")):
        path = os.path.join(OUT, name + ".json")
        text = json.dumps(board.json(), indent=2, sort_keys=True) + "\n"
        old = open(path).read() if os.path.exists(path) else None
        if old == text:
            continue
        if check:
            stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
            print("wrote", path)
    if stale:
        print("out of date (run deploy/grafana/dashboards.py):", *stale, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
