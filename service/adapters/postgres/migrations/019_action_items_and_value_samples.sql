-- Action items (an RCA's follow-ups) as data, and a short history of each alert group's values.

-- One follow-up of an incident: who does what by when. `status` moves open -> done | dropped (and
-- back to open); the reminder columns record that the due-day and overdue reminders were queued,
-- set in the same transaction as the timeline event that posts them, so each goes out once.
CREATE TABLE action_items (
    id                   bigserial   PRIMARY KEY,
    incident_id          bigint      NOT NULL REFERENCES incidents (id),
    title                text        NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    owner                text        NOT NULL DEFAULT '' CHECK (length(owner) <= 200),
    due_on               date        NOT NULL,
    status               text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'dropped')),
    link                 text        NOT NULL DEFAULT '' CHECK (length(link) <= 2000),
    created_by           text        NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    closed_at            timestamptz,
    due_reminded_at      timestamptz,
    overdue_reminded_at  timestamptz
);
CREATE INDEX action_items_incident ON action_items (incident_id, id);
CREATE INDEX action_items_open_due ON action_items (due_on) WHERE status = 'open';

-- The worst value of each rule's series in an alert group (the incident's dedup key), one row per
-- time bucket, written by the evaluator while the group is pending or firing and while an incident
-- holds the group open. Bucket widths grow with the run's age, so a long incident stays small;
-- retention deletes old rows.
CREATE TABLE alert_value_samples (
    group_key  text             NOT NULL,
    rule       text             NOT NULL,
    at         timestamptz      NOT NULL,
    value      double precision NOT NULL,
    PRIMARY KEY (group_key, rule, at)
);
CREATE INDEX alert_value_samples_at ON alert_value_samples (at);
