-- 003_delayed_trace: a delayed re-publish (a retry, a poll) continues the
-- trace of the run that asked for it: the W3C traceparent of the event that
-- created the row (its Kafka header), NULL when it had none.
ALTER TABLE delayed_tasks ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

COMMENT ON COLUMN delayed_tasks.traceparent IS
    'W3C traceparent the re-published task carries (the trace of the run that asked for it).';
