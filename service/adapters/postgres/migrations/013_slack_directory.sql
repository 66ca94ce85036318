-- Slack IDs for the people and user groups an escalation policy names (`oncall`, `@tech-lead`,
-- `alice@example.com`), so an escalation message mentions them in a way Slack notifies.
-- Looked up through the Web API and kept here with an expiry: every replica reads the same answer,
-- and a Slack outage leaves the last known IDs in use. `slack_id` NULL: not found (see `problem`).
-- Kind 'workspace' (name 'url') holds the workspace address auth.test reports, for message links.
CREATE TABLE slack_directory (
    kind        text        NOT NULL CHECK (kind IN ('user', 'usergroup', 'workspace')),
    name        text        NOT NULL,
    slack_id    text,
    label       text,
    problem     text,
    resolved_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (kind, name)
);
