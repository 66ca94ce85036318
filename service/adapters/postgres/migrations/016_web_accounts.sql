-- Web console accounts, sessions and failed logins, and indexes for its incidents list.
-- Sessions live here, not in a process, so any replica serves any browser and a restart logs
-- nobody out. Only digests of session tokens are stored.

CREATE TABLE users (
    name          text        PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$'),
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    created_at    timestamptz NOT NULL
);

CREATE TABLE web_sessions (
    token_digest bytea       PRIMARY KEY,
    user_name    text        NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    -- One message shown on the next page (post/redirect/get), then cleared.
    flash        text
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
CREATE INDEX web_sessions_user ON web_sessions (user_name);

-- Failed logins, counted per user name and per client address over a sliding window.
CREATE TABLE login_failures (
    id        bigserial   PRIMARY KEY,
    user_name text        NOT NULL,
    address   text        NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (user_name, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

-- The console's incidents list: open first, newest first, and its service filter.
CREATE INDEX incidents_open_first ON incidents ((status = 'resolved'), id DESC);
CREATE INDEX incidents_service ON incidents ((labels ->> 'service'));
