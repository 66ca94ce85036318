-- Channels are plug-ins registered by name: the outbox no longer lists them. A name is still a
-- plain identifier; rows written before (pagerduty, slack) satisfy it as they are.
ALTER TABLE notification_outbox DROP CONSTRAINT IF EXISTS notification_outbox_channel_check;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_channel_name
    CHECK (channel ~ '^[a-z][a-z0-9_]{0,31}$');

-- Pacing shared by every replica: a token bucket per (channel, target) (Slack ~1 message/s per
-- channel, PagerDuty ~120 events/min per routing key), and the pause a Retry-After asked for.
-- `blocked_until` is when the next send may go; the sender's claim skips targets before it.
CREATE TABLE notification_pacing (
    channel       text             NOT NULL,
    target        text             NOT NULL,
    tokens        double precision NOT NULL,
    refilled_at   timestamptz      NOT NULL,
    paused_until  timestamptz,
    blocked_until timestamptz      NOT NULL,
    PRIMARY KEY (channel, target)
);
