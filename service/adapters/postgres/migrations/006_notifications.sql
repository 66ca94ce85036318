-- Notifications: where each incident's Slack message lives, which PagerDuty dedup key
-- maps back to which incident, and indexes for the sender's extra queries. 003 stays as written.

-- One Slack message per incident per routed channel; later changes chat.update it and reply in its thread.
-- `summary` marks a storm summary shared by several incidents: those only get thread replies.
CREATE TABLE slack_messages (
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    channel     text        NOT NULL,
    channel_id  text        NOT NULL,
    ts          text        NOT NULL,
    summary     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (incident_id, channel)
);

-- PagerDuty webhooks name the incident by the dedup key we sent (`incident_key`); this maps it back.
CREATE TABLE pagerduty_dedup_keys (
    dedup_key   text        NOT NULL,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (dedup_key, incident_id)
);

-- Storm detection counts recent first posts per channel; summaries find the posts they stand for.
CREATE INDEX notification_outbox_slack_posts ON notification_outbox (target, created_at)
    WHERE channel = 'slack' AND kind = 'post';
CREATE INDEX notification_outbox_storm_key ON notification_outbox ((payload ->> 'storm_key'))
    WHERE payload ? 'storm_key';
-- The API lists by status, and the gauges count by it.
CREATE INDEX notification_outbox_status ON notification_outbox (status, id);
CREATE INDEX notification_outbox_by_incident ON notification_outbox (incident_id, id);
