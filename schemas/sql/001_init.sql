-- 001_init: datafleet's durable history and control data (DESIGN.md,
-- "PostgreSQL"). Applied once by df_pg_migrate inside a transaction, so this
-- file must not contain BEGIN/COMMIT; later changes go in 002_..., never
-- here (the checksum of an applied file is checked).
--
-- Ids that travel in messages (task, event, schedule, pipeline run ids) are
-- text: ULIDs or UUIDv7s as the task/event schemas define them. They are not
-- pattern-checked here on purpose: a task whose message failed validation is
-- still recorded `dead` under whatever id it carried.

-- ---------------------------------------------------------------- tasks ----

CREATE TABLE tasks (
    task_id         text PRIMARY KEY CHECK (length(task_id) BETWEEN 1 AND 256),
    -- type and connector are NULL until known: the recorder can see a
    -- worker's event before the task's `queued` event (or never see one,
    -- for tasks published by a plain Kafka client).
    type            text CHECK (type IN ('export', 'refresh', 'lineage', 'probe')),
    connector       text,
    -- Latest state. `progress` events update progress and last_event_at but
    -- leave the state `running`: progress is an event, not a state of a task.
    state           text NOT NULL
                    CHECK (state IN ('queued', 'running', 'retrying',
                                     'succeeded', 'failed', 'dead', 'cancelled')),
    attempt         integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts    integer CHECK (max_attempts BETWEEN 1 AND 100),
    ordering_key    text,
    schedule_id     text,
    pipeline_run_id text,
    pipeline_step   text,
    submitted_by    text,
    submitted_at    timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deadline        timestamptz,
    worker          text,
    -- `at` of the event that set the current state. "Latest state wins":
    -- the recorder applies an event to this row only when (attempt, at) is
    -- not older than (attempt, last_event_at), and never moves a terminal
    -- state (succeeded, failed, dead, cancelled) back to a live one, so
    -- events recorded out of order or twice leave the right state.
    last_event_at   timestamptz,
    error_code      text,
    error_message   text,
    result          jsonb,
    progress        jsonb,
    labels          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(labels) = 'object'),
    task            jsonb
);

COMMENT ON TABLE tasks IS
    'One row per task id: its latest state (from the event stream, latest state wins), '
    'timestamps, last error, result and the original task message.';
COMMENT ON COLUMN tasks.last_event_at IS
    'at of the event that set state; an older event never overwrites a newer one.';
COMMENT ON COLUMN tasks.task IS 'The original task message (datafleet.task/v1), when seen.';

CREATE INDEX tasks_state_idx ON tasks (state);
CREATE INDEX tasks_type_state_idx ON tasks (type, state);
CREATE INDEX tasks_connector_idx ON tasks (connector);
CREATE INDEX tasks_schedule_id_idx ON tasks (schedule_id) WHERE schedule_id IS NOT NULL;
CREATE INDEX tasks_submitted_at_idx ON tasks (submitted_at);
CREATE INDEX tasks_pipeline_run_idx ON tasks (pipeline_run_id) WHERE pipeline_run_id IS NOT NULL;
CREATE INDEX tasks_labels_idx ON tasks USING gin (labels jsonb_path_ops);

CREATE TABLE task_events (
    event_id    text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 256),
    task_id     text NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    state       text NOT NULL
                CHECK (state IN ('queued', 'running', 'progress', 'succeeded',
                                 'failed', 'retrying', 'dead', 'cancelled')),
    at          timestamptz NOT NULL,
    worker      text NOT NULL,
    progress    jsonb,
    error       jsonb,
    result      jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE task_events IS
    'Append-only event history (datafleet.event/v1). Recording is idempotent: the same '
    'event_id is stored once (INSERT ... ON CONFLICT (event_id) DO NOTHING). The recorder '
    'upserts the tasks row first, in the same transaction.';

CREATE INDEX task_events_task_at_idx ON task_events (task_id, at);

CREATE TABLE task_logs (
    id      bigserial PRIMARY KEY,
    task_id text NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    attempt integer NOT NULL CHECK (attempt >= 1),
    at      timestamptz NOT NULL DEFAULT now(),
    level   text NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message text NOT NULL
);

COMMENT ON TABLE task_logs IS
    'Log lines of each attempt of a task, for the status page (already redacted by the worker).';

CREATE INDEX task_logs_task_idx ON task_logs (task_id, attempt, id);

-- ------------------------------------------------------------ schedules ----

CREATE TABLE schedules (
    id             text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    expression     text NOT NULL,
    timezone       text NOT NULL DEFAULT 'UTC',
    -- What a slot publishes: a task (template without task_id, attempt and
    -- submitted_at, which the slot fills in) or a pipeline run.
    task_template  jsonb,
    pipeline       jsonb,
    enabled        boolean NOT NULL DEFAULT true,
    paused         boolean NOT NULL DEFAULT false,
    -- After downtime: `coalesce` fires one slot for all missed ones, `skip`
    -- fires none, `catch_up` fires each missed slot up to catch_up_limit.
    misfire_policy text NOT NULL DEFAULT 'coalesce'
                   CHECK (misfire_policy IN ('coalesce', 'skip', 'catch_up')),
    catch_up_limit integer NOT NULL DEFAULT 10 CHECK (catch_up_limit >= 0),
    last_fired_at  timestamptz,
    next_fire_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((task_template IS NULL) <> (pipeline IS NULL))
);

COMMENT ON TABLE schedules IS
    'Cron schedules. The leader (PostgreSQL advisory lock) fires slots whose next_fire_at has '
    'come; each slot is claimed in schedule_fires first.';

CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE enabled AND NOT paused;

CREATE TABLE schedule_fires (
    schedule_id     text NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_time       timestamptz NOT NULL,
    task_id         text,
    pipeline_run_id text,
    fired_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, fire_time)
);

COMMENT ON TABLE schedule_fires IS
    'Slots fired: the primary key (schedule_id, fire_time) makes a slot fire once; the task id '
    'is derived from the same pair, so even a double publish runs once.';

-- ------------------------------------------------------------ pipelines ----

CREATE TABLE pipelines (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    description text,
    definition  jsonb NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE pipelines IS 'Pipeline definitions: named steps (tasks) and their order.';

CREATE TABLE pipeline_runs (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
    pipeline_id text NOT NULL REFERENCES pipelines (id),
    -- The definition as it was when the run started: editing the pipeline
    -- does not change runs in flight.
    definition  jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    schedule_id text,
    fire_time   timestamptz,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE pipeline_runs IS 'One row per run of a pipeline.';

CREATE INDEX pipeline_runs_pipeline_idx ON pipeline_runs (pipeline_id, started_at);
CREATE INDEX pipeline_runs_live_idx ON pipeline_runs (state) WHERE state = 'running';

CREATE TABLE pipeline_steps (
    run_id      text NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    step        text NOT NULL CHECK (length(step) BETWEEN 1 AND 128),
    -- pending: not published yet; queued: its task is published; then the
    -- task's outcome; skipped: not run because an earlier step failed.
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'queued', 'running', 'succeeded', 'failed',
                                 'dead', 'cancelled', 'skipped')),
    task_id     text UNIQUE,
    result      jsonb,
    error       jsonb,
    started_at  timestamptz,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step)
);

COMMENT ON TABLE pipeline_steps IS
    'Steps of a run; the scheduler publishes the next step when one succeeds.';

-- ------------------------------------------------------- delayed tasks ----

CREATE TABLE delayed_tasks (
    task_id    text NOT NULL,
    -- The attempt the re-publish will carry: with task_id it makes recording
    -- the same `retrying` event twice schedule one re-publish.
    attempt    integer NOT NULL CHECK (attempt >= 1),
    due_at     timestamptz NOT NULL,
    task       jsonb NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, attempt)
);

COMMENT ON TABLE delayed_tasks IS
    'Durable delayed re-publishes (retries after backoff or Retry-After, refresh polls that '
    'outlive a short wait). The cron role publishes rows whose due_at has come, then deletes '
    'them; a double publish is harmless (task ids are idempotency keys).';

CREATE INDEX delayed_tasks_due_idx ON delayed_tasks (due_at);

-- ------------------------------------------------ connectors and tokens ----

CREATE TABLE connectors (
    name               text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    -- The platform (connector.v1.schema.json's kind enum, validated by the
    -- registry): checked for shape only, so adding a connector kind needs no
    -- migration.
    kind               text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    description        text,
    config             jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    -- Credentials, encrypted at rest; key_id names the key that sealed them
    -- (key rotation re-seals row by row).
    secrets_ciphertext bytea,
    key_id             text,
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((secrets_ciphertext IS NULL) = (key_id IS NULL))
);

COMMENT ON TABLE connectors IS
    'Connector registry: tasks name a connector; its settings and encrypted secrets stay here.';

CREATE TABLE api_tokens (
    id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    role         text NOT NULL CHECK (role IN ('read', 'submit', 'admin')),
    -- Hash of the token (the token itself is shown once, never stored).
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

COMMENT ON TABLE api_tokens IS 'REST API tokens, stored hashed; revoked tokens are kept for audit.';

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target_kind text,
    target      text,
    details     jsonb,
    remote_addr text
);

COMMENT ON TABLE audit_log IS
    'Who changed what through the API (connectors, schedules, tokens, cancellations); never '
    'holds secrets.';

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_target_idx ON audit_log (target_kind, target);

-- -------------------------------------------------------------- lineage ----

CREATE TABLE lineage_nodes (
    id         bigserial PRIMARY KEY,
    namespace  text NOT NULL,
    name       text NOT NULL,
    kind       text NOT NULL,
    attrs      jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace, name)
);

COMMENT ON TABLE lineage_nodes IS
    'Datasets, tables, reports, dashboards and jobs seen by lineage tasks, by (namespace, name).';

CREATE TABLE lineage_edges (
    from_node  bigint NOT NULL REFERENCES lineage_nodes (id) ON DELETE CASCADE,
    to_node    bigint NOT NULL REFERENCES lineage_nodes (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    attrs      jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_node, to_node, kind)
);

COMMENT ON TABLE lineage_edges IS
    'Directed lineage edges (from feeds to); upserted with last_seen moved forward.';

CREATE INDEX lineage_edges_to_idx ON lineage_edges (to_node);
