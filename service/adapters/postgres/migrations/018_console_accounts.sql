-- Console accounts: a password someone else chose (the first admin's one-time password) must be changed
-- at the first login, and sessions can end after a time without use as well as at an absolute limit.

ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;
-- The idle limit is judged on last_seen_at; this keeps the sweep of ended sessions cheap.
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen_at);

-- The incidents list's free-text search (title, dedup key, assignee, INC-n) through a trigram index, so
-- a rare word does not read all 10,000 incidents twice (page and count). pg_trgm ships with PostgreSQL
-- (contrib) and is a trusted extension; where it is missing, the search still works, unindexed.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX incidents_search_trgm ON incidents USING gin (
            (title || ' ' || dedup_key || ' ' || coalesce(assignee, '') || ' INC-' || id::text) gin_trgm_ops
        );
    END IF;
END;
$$;
