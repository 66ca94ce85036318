-- Incidents and their immutable timeline.

CREATE TABLE incidents (
    id              bigserial PRIMARY KEY,
    dedup_key       text        NOT NULL CHECK (length(dedup_key) BETWEEN 1 AND 512),
    title           text        NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description     text        NOT NULL DEFAULT '',
    severity        smallint    NOT NULL CHECK (severity BETWEEN 0 AND 3),
    status          text        NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'mitigated', 'resolved')),
    labels          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    assignee        text,
    created_by      text        NOT NULL,
    source          text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    acknowledged_at timestamptz,
    mitigated_at    timestamptz,
    resolved_at     timestamptz
);

-- One open incident per problem: two replicas or two racing requests cannot both open one.
CREATE UNIQUE INDEX incidents_open_dedup_key ON incidents (dedup_key) WHERE status <> 'resolved';
CREATE INDEX incidents_status_severity ON incidents (status, severity, created_at DESC);
CREATE INDEX incidents_created_at ON incidents (created_at DESC, id DESC);

CREATE TABLE incident_events (
    id          bigserial   PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    actor       text        NOT NULL,
    source      text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

-- The timeline is evidence for the RCA: once written, never changed.
CREATE FUNCTION incident_events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident_events rows are immutable';
END;
$$;
CREATE TRIGGER incident_events_no_update BEFORE UPDATE OR DELETE ON incident_events
    FOR EACH ROW EXECUTE FUNCTION incident_events_immutable();
