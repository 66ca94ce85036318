-- Console accounts: a password someone else chose (the first admin's one-time password) must be changed
-- at the first login, and sessions can end after a time without use as well as at an absolute limit.

ALTER TABLE users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;
-- The idle limit is judged on last_seen_at; this keeps the sweep of ended sessions cheap.
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen_at);
