-- The notification outbox: intents written in the same transaction as the incident change.

CREATE TABLE notification_outbox (
    id              bigserial   PRIMARY KEY,
    incident_id     bigint      REFERENCES incidents (id),
    channel         text        NOT NULL CHECK (channel IN ('pagerduty', 'slack')),
    kind            text        NOT NULL,
    target          text        NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sent', 'dead', 'held', 'coalesced')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    idempotency_key text        UNIQUE
);

-- The sender's hot path: due pending rows, oldest first.
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at, id) WHERE status = 'pending';
-- Per-incident ordering: "is there an older unsent message for this incident and channel?"
CREATE INDEX notification_outbox_incident ON notification_outbox (incident_id, channel, id)
    WHERE status IN ('pending', 'held');
