-- Channels are plug-ins registered by name: the outbox no longer lists them. A name is still a
-- plain identifier; rows written before (pagerduty, slack) satisfy it as they are.
ALTER TABLE notification_outbox DROP CONSTRAINT IF EXISTS notification_outbox_channel_check;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_channel_name
    CHECK (channel ~ '^[a-z][a-z0-9_]{0,31}$');
