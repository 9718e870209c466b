-- The AdminService (issue #20): when each API key was last used, and each user's activity
-- per day for the usage charts.

-- Refreshed when a server verifies the key, which it does once per MEM0STACK_AUTH_CACHE_S
-- at most: precise to that window, and never a write per call.
ALTER TABLE api_keys ADD COLUMN last_use_time timestamptz;

-- Counters per user and UTC day, added to by app/usage.py every few seconds. Memories
-- created per day are counted from the memories themselves, not here.
CREATE TABLE usage_daily (
    user_id               text NOT NULL,
    day                   date NOT NULL,
    searches              bigint NOT NULL DEFAULT 0,
    llm_prompt_tokens     bigint NOT NULL DEFAULT 0,
    llm_completion_tokens bigint NOT NULL DEFAULT 0,
    llm_calls             bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
