-- Whether this database has ever held an API key. Development mode (no key needed, every
-- call is admin) is allowed only on a database that never has: revoking or deleting the
-- last key must leave the server closed, never open it again. A trigger keeps the record,
-- so every way of adding a key (this version's CLI, an older one, plain SQL) counts.
CREATE TABLE auth_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    first_key_time timestamptz NOT NULL
);

INSERT INTO auth_state (first_key_time)
SELECT min(create_time) FROM api_keys HAVING count(*) > 0;

CREATE FUNCTION auth_state_note_first_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth_state (first_key_time) VALUES (now()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_note_first_key AFTER INSERT ON api_keys
FOR EACH STATEMENT EXECUTE FUNCTION auth_state_note_first_key();
