-- Escalation timers: every pending step is a row; a worker claims due rows with
-- FOR UPDATE SKIP LOCKED and performs each in the transaction that marks it done, so a step fires once.

CREATE TABLE escalation_steps (
    id           bigserial   PRIMARY KEY,
    incident_id  bigint      NOT NULL REFERENCES incidents (id),
    kind         text        NOT NULL CHECK (kind IN ('escalate', 'exhausted', 'overdue', 'rca_reminder')),
    level        integer     NOT NULL DEFAULT 0 CHECK (level >= 0),
    attempt      integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    due_at       timestamptz NOT NULL,
    state        text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'cancelled')),
    data         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    armed_at     timestamptz NOT NULL,
    finished_at  timestamptz,
    reason       text,
    failures     integer     NOT NULL DEFAULT 0,
    last_error   text
);

-- The worker's hot path: due pending rows, oldest first; also gives the next wake-up time.
CREATE INDEX escalation_steps_due ON escalation_steps (due_at, id) WHERE state = 'pending';
-- An incident's pending steps (arm, cancel, reschedule, detail view).
CREATE INDEX escalation_steps_incident ON escalation_steps (incident_id, kind) WHERE state = 'pending';
-- At most one pending rung of the ladder per incident: a second one would page twice.
CREATE UNIQUE INDEX escalation_steps_one_rung ON escalation_steps (incident_id)
    WHERE state = 'pending' AND kind IN ('escalate', 'exhausted');
