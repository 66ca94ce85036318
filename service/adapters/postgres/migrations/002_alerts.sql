-- Alert state per (rule, series). One row is one service.domain.alerts.AlertState, so a
-- restart neither pages again for a firing alert nor restarts the `for` clock of a pending one.
-- Inactive alerts have no row; resolved ones are kept 15 minutes (evaluation.RESOLVED_RETENTION).

CREATE TABLE alert_states (
    id               bigserial   PRIMARY KEY,
    rule             text        NOT NULL CHECK (length(rule) BETWEEN 1 AND 200),
    -- Canonical label set of the series (alerts.series_key); may be long, so identity uses its hash.
    series           text        NOT NULL,
    -- alerts.group_key: the dedup key of the incident the alert belongs to (incidents.dedup_key).
    group_key        text        NOT NULL CHECK (length(group_key) BETWEEN 1 AND 512),
    labels           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status           text        NOT NULL CHECK (status IN ('pending', 'firing', 'resolved')),
    level            text        CHECK (level IN ('warning', 'critical')),
    value            double precision,
    breach_since     timestamptz,
    critical_since   timestamptz,
    last_breach_at   timestamptz,
    last_critical_at timestamptz,
    firing_since     timestamptz,
    resolved_at      timestamptz,
    updated_at       timestamptz NOT NULL,
    -- Set by the incident layer when it attaches the alert to an incident (RCA: which alerts were in it).
    incident_id      bigint      REFERENCES incidents (id),
    CHECK (status <> 'firing' OR (level IS NOT NULL AND firing_since IS NOT NULL)),
    CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
);

-- Upserts say ON CONFLICT (rule, md5(series)): a btree on the raw text would fail for very long label sets.
CREATE UNIQUE INDEX alert_states_identity ON alert_states (rule, md5(series));
-- "Alerts of this incident" and "is anything still firing in this group?".
CREATE INDEX alert_states_group ON alert_states (group_key, status);
CREATE INDEX alert_states_incident ON alert_states (incident_id) WHERE incident_id IS NOT NULL;
-- Pruning resolved rows past retention.
CREATE INDEX alert_states_resolved_at ON alert_states (resolved_at) WHERE status = 'resolved';
