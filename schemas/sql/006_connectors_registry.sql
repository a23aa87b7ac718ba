-- 006_connectors_registry: what the connector registry needs beyond 001's
-- connectors table (common/df_connector_store.h, docs/CONNECTORS.md
-- "Registry"):
--   * the rest of a definition: limits and retry (connector.v1.schema.json);
--   * secrets_view: the definition's `secrets` as people may see them: each
--     inline value replaced by "***", references {"env": NAME} / {"file":
--     PATH} as given (they are not secret; the worker resolves them). The
--     inline values themselves are sealed together in secrets_ciphertext.
--   * connectors_version: one row whose version grows in the same
--     transaction as any change of connectors, so a worker that reads the
--     version and the rows in one statement never misses a change (a
--     sequence would be seen before the change commits).

ALTER TABLE connectors
    ADD COLUMN limits jsonb CHECK (limits IS NULL OR jsonb_typeof(limits) = 'object'),
    ADD COLUMN retry jsonb CHECK (retry IS NULL OR jsonb_typeof(retry) = 'object'),
    ADD COLUMN secrets_view jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(secrets_view) = 'object');

COMMENT ON COLUMN connectors.secrets_view IS
    'The secrets as shown: inline values as "***" (sealed in secrets_ciphertext), references '
    '{"env": NAME} / {"file": PATH} as given. Never a secret value.';
COMMENT ON COLUMN connectors.secrets_ciphertext IS
    'The inline secret values, one JSON object sealed with df_secret (text "v1:<key_id>:<base64>", '
    'additional data "connector:<name>").';

CREATE TABLE connectors_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL DEFAULT 0
);

INSERT INTO connectors_version (id, version) VALUES (true, 0);

COMMENT ON TABLE connectors_version IS
    'One row: grows with every change of connectors (workers reload when it moved).';

CREATE FUNCTION connectors_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE connectors_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER connectors_version_bump
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON connectors
    FOR EACH STATEMENT EXECUTE FUNCTION connectors_version_bump();
