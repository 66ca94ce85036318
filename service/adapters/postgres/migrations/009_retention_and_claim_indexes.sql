-- Bounded growth and a claim that does not read what it cannot send.

-- The claim walks each (channel, target) on its own, skipping paused targets without reading their
-- rows; the recursive scan over this index lists the targets that have anything pending.
CREATE INDEX notification_outbox_pending_target
    ON notification_outbox (channel, target, next_attempt_at, id) WHERE status = 'pending';

-- Retention finds what it may delete by age, in small batches.
CREATE INDEX notification_outbox_finished ON notification_outbox (sent_at)
    WHERE status IN ('sent', 'coalesced');
CREATE INDEX notification_attempts_last ON notification_attempts (last_at);
CREATE INDEX escalation_steps_finished ON escalation_steps (finished_at) WHERE state <> 'pending';
CREATE INDEX rule_evaluations_evaluated ON rule_evaluations (evaluated_at);

-- One retention run per day across replicas: the replica that inserts the day's row does it; a run
-- that died unfinished may be taken over after an hour.
CREATE TABLE retention_runs (
    day         date        PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    runner      text        NOT NULL,
    deleted     jsonb       NOT NULL DEFAULT '{}'::jsonb
);

-- RCA versions stay immutable, except that retention may delete old ones beyond the configured
-- bound (never the current one); it says so for its own transaction only.
CREATE OR REPLACE FUNCTION rca_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('incidentd.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'rca_versions rows are immutable; save a new version instead';
END;
$$;
