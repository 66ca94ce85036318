-- Rule reloads across replicas: a reload asked of one replica (POST /api/v1/rules/reload or SIGHUP)
-- bumps `generation`; every replica polls it and reloads its own rule files when it moves
-- (service/alerting/reload_broadcast.py). One row.

CREATE TABLE rule_reload_requests (
    id            smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    generation    bigint      NOT NULL,
    requested_at  timestamptz NOT NULL,
    requested_by  text        NOT NULL DEFAULT ''
);

-- What each rule's last evaluation read, for GET /api/v1/rules even when nothing breaches: how many
-- series matched (0: "matches no series", NULL: the source was unreadable) and the worst value among
-- them (the highest for `above` rules, the lowest for `below`).
ALTER TABLE rule_evaluations ADD COLUMN matched integer, ADD COLUMN value double precision;
