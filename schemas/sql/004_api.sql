-- 006_api: what the REST API (the scheduler's `api` role) reads with.
--
-- df_ts: a time as the API shows it, RFC 3339 in UTC with milliseconds
-- ("2026-11-22T08:00:00.123Z"), whatever the session's TimeZone; NULL stays
-- NULL.
CREATE FUNCTION df_ts(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- Who did what: the audit log is read newest first, by actor.
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at);
