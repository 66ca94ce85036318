-- Reports: the daily summary's run record, and indexes for response metrics over the timeline.

-- One row per report and scheduled slot (the local date of its scheduled time). The replica whose
-- INSERT commits owns the slot; its messages are queued in the outbox in that same transaction, so a
-- crash before commit leaves neither the row nor the messages, and the next replica takes the slot.
CREATE TABLE report_runs (
    report     text        NOT NULL CHECK (length(report) BETWEEN 1 AND 100),
    slot       date        NOT NULL,
    due_at     timestamptz NOT NULL,
    claimed_at timestamptz NOT NULL,
    runner     text        NOT NULL,
    outcome    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (report, slot)
);

-- Response metrics read the timeline by kind over a time window (acknowledged, resolved, escalated,
-- notification_sent, declared, attached, retriggered), then join back to the incident.
CREATE INDEX incident_events_kind_at ON incident_events (kind, at) INCLUDE (incident_id);
