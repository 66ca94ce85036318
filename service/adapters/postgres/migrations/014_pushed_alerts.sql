-- Alerts pushed by Prometheus (Alertmanager's v2 API) or an Alertmanager webhook. One row per
-- fingerprint (Alertmanager's identity of a label set); a re-send updates ends_at/received_at only.

CREATE TABLE pushed_alerts (
    fingerprint   text        PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{16}$'),
    labels        jsonb       NOT NULL,
    annotations   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    generator_url text        NOT NULL DEFAULT '',
    origin        text        NOT NULL CHECK (origin IN ('prometheus', 'alertmanager')),
    -- The incident dedup key the alert groups into (service.alerting.pushed.pushed_group_key).
    group_key     text        NOT NULL CHECK (length(group_key) BETWEEN 1 AND 512),
    severity      smallint    NOT NULL CHECK (severity BETWEEN 0 AND 3),
    status        text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    ends_explicit boolean     NOT NULL,
    received_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    resolved_at   timestamptz,
    -- Silence ids, window names, inhibiting fingerprints that hold it back (all empty: it pages).
    silenced_by   jsonb       NOT NULL DEFAULT '[]'::jsonb,
    inhibited_by  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    muted_windows jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- Set once the alert opened or joined an incident; NULL while firing muted, so the sweeper pages it
    -- when the silence ends.
    incident_id   bigint      REFERENCES incidents (id),
    CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
);

-- Expiry sweep: firing alerts whose ends_at passed without a re-send.
CREATE INDEX pushed_alerts_firing_ends ON pushed_alerts (ends_at) WHERE status = 'firing';
CREATE INDEX pushed_alerts_group ON pushed_alerts (group_key, status);
CREATE INDEX pushed_alerts_incident ON pushed_alerts (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX pushed_alerts_resolved_at ON pushed_alerts (resolved_at) WHERE status = 'resolved';
-- The sweeper's look at alerts that fired while muted and have no incident yet.
CREATE INDEX pushed_alerts_unattached ON pushed_alerts (fingerprint) WHERE status = 'firing' AND incident_id IS NULL;
