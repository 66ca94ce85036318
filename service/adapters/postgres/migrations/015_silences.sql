-- Silences (Alertmanager's model), one-off maintenance windows, and which incidents are muted.
-- Shared by every replica: the muting verdict is computed from these rows, never from memory alone.

CREATE TABLE silences (
    id          uuid        PRIMARY KEY,
    matchers    jsonb       NOT NULL CHECK (jsonb_typeof(matchers) = 'array' AND jsonb_array_length(matchers) > 0),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text        NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    comment     text        NOT NULL DEFAULT '' CHECK (length(comment) <= 5000),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- Early expiry: who ended it before its time (ends_at then says when).
    expired_by  text,
    -- Slack was told about the start / the end (the announcer claims these once across replicas).
    announced_start boolean NOT NULL DEFAULT false,
    announced_end   boolean NOT NULL DEFAULT false,
    CHECK (ends_at > starts_at OR expired_by IS NOT NULL)
);
CREATE INDEX silences_ends_at ON silences (ends_at);

-- Ad-hoc windows (`/incident maintenance start 2h service=payments`, POST /api/v1/maintenance).
-- Recurring ones are policy (rules/policy/maintenance.yaml).
CREATE TABLE maintenance_windows (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    matchers    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    owner       text        NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL,
    ended_by    text
);
CREATE INDEX maintenance_windows_ends_at ON maintenance_windows (ends_at);

-- An open incident whose firing alerts are all muted: escalation paused, shown as silenced.
CREATE TABLE incident_mutes (
    incident_id bigint      PRIMARY KEY REFERENCES incidents (id),
    since       timestamptz NOT NULL,
    reasons     jsonb       NOT NULL DEFAULT '[]'::jsonb
);

-- Our own rules' alerts muted when they started firing (no incident yet): the sweeper pages them later.
ALTER TABLE alert_states ADD COLUMN muted boolean NOT NULL DEFAULT false;
CREATE INDEX alert_states_muted_firing ON alert_states (rule) WHERE status = 'firing' AND incident_id IS NULL;
