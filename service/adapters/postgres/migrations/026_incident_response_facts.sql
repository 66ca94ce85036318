-- What response reports read, kept per incident so a year of them is a few narrow tables instead of
-- a scan of the timeline. Each row carries the incident's opening time, severity and service (as they
-- are now), the report's scope, so no report joins back to the incidents.
--
--   incident_response_facts     one row an incident: first acknowledged, mitigated and resolved (a
--                               withdrawn acknowledgement or a reopening keeps the first)
--   incident_response_tallies   per incident and rule: alerts (declared, attached, retriggered) and
--                               flaps (retriggered); per incident and level: escalations
--   incident_response_contacts  each PagerDuty page (its target) and each target an escalation told,
--                               with its time, so a report can tell nights from business hours
--
-- Triggers keep them in the transaction that writes the incident or its events, whoever writes them
-- (the incident service, an import, a test's SQL): no replica can commit one without the other.
CREATE TABLE incident_response_facts (
    incident_id           bigint      PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    created_at            timestamptz NOT NULL,
    severity              smallint    NOT NULL,
    service               text        NOT NULL,
    first_acknowledged_at timestamptz,
    first_mitigated_at    timestamptz,
    first_resolved_at     timestamptz,
    -- Worked out once when written rather than for every row of every report.
    week        date   GENERATED ALWAYS AS (date_trunc('week', created_at AT TIME ZONE 'UTC')::date) STORED,
    tta_seconds float8 GENERATED ALWAYS AS (extract(epoch FROM first_acknowledged_at - created_at)::float8) STORED,
    ttr_seconds float8 GENERATED ALWAYS AS (extract(epoch FROM first_resolved_at - created_at)::float8) STORED
);
CREATE INDEX incident_response_facts_created ON incident_response_facts (created_at);

-- The key is the rule or the level as the event wrote it (NULL when its value was null).
CREATE TABLE incident_response_tallies (
    incident_id bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    severity    smallint    NOT NULL,
    service     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('rule', 'level')),
    key         text,
    alerts      bigint      NOT NULL DEFAULT 0,
    flaps       bigint      NOT NULL DEFAULT 0,
    escalations bigint      NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX incident_response_tallies_key ON incident_response_tallies (incident_id, kind, key)
    NULLS NOT DISTINCT;
CREATE INDEX incident_response_tallies_created ON incident_response_tallies (kind, created_at);

CREATE TABLE incident_response_contacts (
    incident_id bigint      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    severity    smallint    NOT NULL,
    service     text        NOT NULL,
    at          timestamptz NOT NULL,
    via         text        NOT NULL CHECK (via IN ('page', 'escalation')),
    kind        text,  -- an escalation's kind of target (slack_users, ...); NULL for a page
    target      text
);
CREATE INDEX incident_response_contacts_incident ON incident_response_contacts (incident_id);
CREATE INDEX incident_response_contacts_created ON incident_response_contacts (via, created_at);

CREATE FUNCTION incident_response_opened() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_response_facts (incident_id, created_at, severity, service)
    SELECT n.id, n.created_at, n.severity, coalesce(n.labels->>'service', '') FROM opened n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_response_opened AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS opened FOR EACH STATEMENT EXECUTE FUNCTION incident_response_opened();

CREATE FUNCTION incident_response_rescoped() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_service text := coalesce(NEW.labels->>'service', '');
BEGIN
    UPDATE incident_response_facts SET created_at = NEW.created_at, severity = NEW.severity, service = new_service
     WHERE incident_id = NEW.id;
    UPDATE incident_response_tallies SET created_at = NEW.created_at, severity = NEW.severity, service = new_service
     WHERE incident_id = NEW.id;
    UPDATE incident_response_contacts SET created_at = NEW.created_at, severity = NEW.severity, service = new_service
     WHERE incident_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_response_rescoped AFTER UPDATE OF severity, labels, created_at ON incidents
    FOR EACH ROW
    WHEN (OLD.severity IS DISTINCT FROM NEW.severity
          OR OLD.labels->>'service' IS DISTINCT FROM NEW.labels->>'service'
          OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION incident_response_rescoped();

-- What each written event adds. least() skips NULLs, and an UPDATE or upsert that waits on another
-- transaction's row works on the row as that one left it, so replicas writing at once add up.
CREATE FUNCTION incident_response_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE incident_response_facts f
       SET first_acknowledged_at = least(f.first_acknowledged_at, n.acknowledged),
           first_mitigated_at = least(f.first_mitigated_at, n.mitigated),
           first_resolved_at = least(f.first_resolved_at, n.resolved)
      FROM (SELECT incident_id,
                   min(at) FILTER (WHERE kind = 'acknowledged') AS acknowledged,
                   min(at) FILTER (WHERE kind = 'mitigated') AS mitigated,
                   min(at) FILTER (WHERE kind = 'resolved') AS resolved
              FROM written WHERE kind IN ('acknowledged', 'mitigated', 'resolved')
             GROUP BY incident_id) n
     WHERE f.incident_id = n.incident_id;

    INSERT INTO incident_response_tallies AS t
           (incident_id, created_at, severity, service, kind, key, alerts, flaps, escalations)
    SELECT w.incident_id, f.created_at, f.severity, f.service,
           CASE WHEN w.kind = 'escalated' THEN 'level' ELSE 'rule' END,
           CASE WHEN w.kind = 'escalated' THEN w.data->>'level' ELSE w.data->>'rule' END,
           count(*) FILTER (WHERE w.kind <> 'escalated'),
           count(*) FILTER (WHERE w.kind = 'retriggered'),
           count(*) FILTER (WHERE w.kind = 'escalated')
      FROM written w JOIN incident_response_facts f ON f.incident_id = w.incident_id
     WHERE w.kind = 'escalated' OR (w.kind IN ('declared', 'attached', 'retriggered') AND w.data ? 'rule')
     GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (incident_id, kind, key) DO UPDATE
       SET alerts = t.alerts + excluded.alerts, flaps = t.flaps + excluded.flaps,
           escalations = t.escalations + excluded.escalations;

    INSERT INTO incident_response_contacts (incident_id, created_at, severity, service, at, via, kind, target)
    SELECT w.incident_id, f.created_at, f.severity, f.service, w.at, 'page', NULL, w.data->>'target'
      FROM written w JOIN incident_response_facts f ON f.incident_id = w.incident_id
     WHERE w.kind = 'notification_sent' AND w.data->>'channel' = 'pagerduty' AND w.data->>'kind' = 'trigger'
    UNION ALL
    SELECT w.incident_id, f.created_at, f.severity, f.service, w.at, 'escalation', t.key, v.value
      FROM written w JOIN incident_response_facts f ON f.incident_id = w.incident_id,
           jsonb_each(CASE WHEN jsonb_typeof(w.data->'targets') = 'object' THEN w.data->'targets'
                           ELSE '{}'::jsonb END) t,
           jsonb_array_elements_text(CASE WHEN jsonb_typeof(t.value) = 'array' THEN t.value
                                          ELSE '[]'::jsonb END) v
     WHERE w.kind = 'escalated';
    RETURN NULL;
END;
$$;
CREATE TRIGGER incident_response_written AFTER INSERT ON incident_events
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION incident_response_written();

-- Existing incidents and timelines: the same rules over what is already written.
INSERT INTO incident_response_facts (incident_id, created_at, severity, service)
SELECT id, created_at, severity, coalesce(labels->>'service', '') FROM incidents;

WITH written AS (SELECT * FROM incident_events)
UPDATE incident_response_facts f
   SET first_acknowledged_at = least(f.first_acknowledged_at, n.acknowledged),
       first_mitigated_at = least(f.first_mitigated_at, n.mitigated),
       first_resolved_at = least(f.first_resolved_at, n.resolved)
  FROM (SELECT incident_id,
               min(at) FILTER (WHERE kind = 'acknowledged') AS acknowledged,
               min(at) FILTER (WHERE kind = 'mitigated') AS mitigated,
               min(at) FILTER (WHERE kind = 'resolved') AS resolved
          FROM written WHERE kind IN ('acknowledged', 'mitigated', 'resolved')
         GROUP BY incident_id) n
 WHERE f.incident_id = n.incident_id;

WITH written AS (SELECT * FROM incident_events)
INSERT INTO incident_response_tallies AS t
       (incident_id, created_at, severity, service, kind, key, alerts, flaps, escalations)
SELECT w.incident_id, f.created_at, f.severity, f.service,
       CASE WHEN w.kind = 'escalated' THEN 'level' ELSE 'rule' END,
       CASE WHEN w.kind = 'escalated' THEN w.data->>'level' ELSE w.data->>'rule' END,
       count(*) FILTER (WHERE w.kind <> 'escalated'),
       count(*) FILTER (WHERE w.kind = 'retriggered'),
       count(*) FILTER (WHERE w.kind = 'escalated')
  FROM written w JOIN incident_response_facts f ON f.incident_id = w.incident_id
 WHERE w.kind = 'escalated' OR (w.kind IN ('declared', 'attached', 'retriggered') AND w.data ? 'rule')
 GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT (incident_id, kind, key) DO UPDATE
   SET alerts = t.alerts + excluded.alerts, flaps = t.flaps + excluded.flaps,
       escalations = t.escalations + excluded.escalations;

WITH written AS (SELECT * FROM incident_events)
INSERT INTO incident_response_contacts (incident_id, created_at, severity, service, at, via, kind, target)
SELECT w.incident_id, f.created_at, f.severity, f.service, w.at, 'page', NULL, w.data->>'target'
  FROM written w JOIN incident_response_facts f ON f.incident_id = w.incident_id
 WHERE w.kind = 'notification_sent' AND w.data->>'channel' = 'pagerduty' AND w.data->>'kind' = 'trigger'
UNION ALL
SELECT w.incident_id, f.created_at, f.severity, f.service, w.at, 'escalation', t.key, v.value
  FROM written w JOIN incident_response_facts f ON f.incident_id = w.incident_id,
       jsonb_each(CASE WHEN jsonb_typeof(w.data->'targets') = 'object' THEN w.data->'targets'
                       ELSE '{}'::jsonb END) t,
       jsonb_array_elements_text(CASE WHEN jsonb_typeof(t.value) = 'array' THEN t.value
                                      ELSE '[]'::jsonb END) v
 WHERE w.kind = 'escalated';
