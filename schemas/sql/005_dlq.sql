-- 005_dlq: the dead-letter topic (`<prefix>dlq`) recorded in PostgreSQL so
-- it can be browsed, requeued and purged (docs/DLQ.md), and task_logs tied
-- to the event each line was written for.
--
-- The recorder role consumes the DLQ topic beside the events topic and
-- writes one dlq_messages row per Kafka message, in the same transaction as
-- the events of its batch; (topic, partition, "offset") is unique, so a
-- message read twice (a rebalance, a restart before the offsets were
-- committed, a new consumer group) is stored once.

CREATE TABLE dlq_messages (
    id                bigserial PRIMARY KEY,
    topic             text NOT NULL,
    partition         integer NOT NULL CHECK (partition >= 0),
    "offset"          bigint NOT NULL CHECK ("offset" >= 0),
    -- The message's task_id when its payload is a JSON object with a string
    -- task_id; NULL otherwise (the payload may not even be JSON).
    task_id           text CHECK (length(task_id) BETWEEN 1 AND 256),
    -- The dlq_reason, dlq_error and dlq_worker headers the worker (or the
    -- scheduler's reconciler) added; NULL when absent.
    reason            text,
    error             text,
    worker            text,
    -- The Kafka key as text; a key that is not UTF-8 text is stored as
    -- "base64:" followed by its base64 form.
    key               text,
    -- The payload as it was: UTF-8 text (payload_encoding 'text') or, for
    -- bytes that are not UTF-8 text or contain NUL, its base64 form
    -- ('base64'). At most 1 MiB of the original is kept (payload_truncated);
    -- payload_bytes is the original size. Emptied by a purge.
    payload           text NOT NULL DEFAULT '',
    payload_encoding  text NOT NULL DEFAULT 'text' CHECK (payload_encoding IN ('text', 'base64')),
    payload_truncated boolean NOT NULL DEFAULT false,
    payload_bytes     integer NOT NULL DEFAULT 0 CHECK (payload_bytes >= 0),
    -- Every header of the message, name -> value (values that are not
    -- UTF-8 text as "base64:..."; a header repeated keeps its last value).
    headers           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(headers) = 'object'),
    -- When Kafka took the message (its timestamp) and when it was recorded.
    produced_at       timestamptz,
    received_at       timestamptz NOT NULL DEFAULT now(),
    -- dead: as it arrived; requeued: published again as the task
    -- requeued_as; purged: payload and headers dropped (the row stays so
    -- that reading the message again does not bring it back).
    state             text NOT NULL DEFAULT 'dead' CHECK (state IN ('dead', 'requeued', 'purged')),
    -- The new task id, reserved before the publish: a requeue that failed
    -- after publishing uses the same id again, so the task runs once.
    requeued_as       text,
    requeued_at       timestamptz,
    purged_at         timestamptz,
    UNIQUE (topic, partition, "offset")
);

COMMENT ON TABLE dlq_messages IS
    'Messages of the dead-letter topic, one row per (topic, partition, offset), recorded by the '
    'recorder role; browsed, requeued and purged through datafleet-scheduler dlq and the API.';

CREATE INDEX dlq_messages_state_idx ON dlq_messages (state, id);
CREATE INDEX dlq_messages_task_idx ON dlq_messages (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX dlq_messages_received_idx ON dlq_messages (received_at);

-- task_logs: the recorder writes one line per recorded event, keyed by the
-- event's id, in the event's batch transaction: an event recorded twice
-- writes its line once. Lines written otherwise have no event_id.
ALTER TABLE task_logs ADD COLUMN event_id text;
CREATE UNIQUE INDEX task_logs_event_id_idx ON task_logs (event_id);

COMMENT ON COLUMN task_logs.event_id IS
    'The event this line tells of (the recorder writes one line per event, once).';
