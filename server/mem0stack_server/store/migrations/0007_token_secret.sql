-- The secret that signs page tokens and stream cursors (HMAC-SHA256), so a caller can
-- neither alter nor make up one. The first server to start writes it (store/token_secret.py)
-- and every replica reads the same one, so a token stays valid across restarts and on
-- whichever replica the next call reaches.
CREATE TABLE token_secret (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret      bytea NOT NULL CHECK (length(secret) >= 32),
    create_time timestamptz NOT NULL DEFAULT now()
);
