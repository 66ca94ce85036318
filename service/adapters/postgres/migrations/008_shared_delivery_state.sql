-- State that several replicas and a kill -9 must share: Slack request signatures already seen,
-- Slack posts under way, and delivery attempts made before their outcome was committed.

-- A signed Slack request is executed once across replicas; rows outlive the 5-minute signature
-- window a little and are then removed by the retention job.
CREATE TABLE slack_request_signatures (
    digest     bytea       PRIMARY KEY,
    seen_at    timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX slack_request_signatures_expiry ON slack_request_signatures (expires_at);

-- A first post is recorded (attempt_key, no ts yet) and committed before chat.postMessage, and
-- the key travels in the message's metadata: after a crash the sender finds the message in the
-- channel's history instead of posting it a second time.
ALTER TABLE slack_messages
    ALTER COLUMN channel_id DROP NOT NULL,
    ALTER COLUMN ts DROP NOT NULL,
    ADD COLUMN attempt_key text;

-- Committed on a connection of its own just before each provider call. No foreign key: the
-- outbox row is locked FOR UPDATE by the sending transaction, which a key check would wait for.
CREATE TABLE notification_attempts (
    outbox_id bigint      PRIMARY KEY,
    attempts  integer     NOT NULL,
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL
);
