-- 002_delayed_polls: delayed_tasks also holds the polls of platform
-- operations (a refresh followed by durable polling, docs/RETRIES.md).
-- A poll message keeps its task's attempt and carries poll.seq, so the key
-- of a delayed re-publish becomes (task_id, attempt, poll_seq): poll_seq is
-- 0 for a retry (the next attempt's task message) and the poll's seq for a
-- poll. Recording the same event twice still schedules one re-publish.

ALTER TABLE delayed_tasks
    ADD COLUMN poll_seq integer NOT NULL DEFAULT 0 CHECK (poll_seq >= 0);

ALTER TABLE delayed_tasks DROP CONSTRAINT delayed_tasks_pkey;
ALTER TABLE delayed_tasks ADD PRIMARY KEY (task_id, attempt, poll_seq);

COMMENT ON COLUMN delayed_tasks.poll_seq IS
    '0: a retry (the task message of `attempt`); n > 0: the n-th poll message of a platform '
    'operation started by `attempt` (the task''s poll.seq).';
COMMENT ON COLUMN delayed_tasks.reason IS
    'Why it waits: the error code of the `retrying` event, or `poll`.';
