-- Which evaluation slot each rule last ran. A rule with interval I runs once per slot
-- floor(epoch / I) across all replicas: the row is claimed in the same transaction that stores
-- the rule's alert states and opens its incidents, so a retried or duplicated tick is a no-op.

CREATE TABLE rule_evaluations (
    rule          text             PRIMARY KEY CHECK (length(rule) BETWEEN 1 AND 200),
    last_slot     bigint           NOT NULL,
    -- Which evaluator process wrote the slot: it may reuse its in-memory copy of the states it
    -- stored only while it is still the last writer (see service/alerting/evaluator.py).
    writer        text             NOT NULL DEFAULT '',
    evaluated_at  timestamptz      NOT NULL,
    duration_ms   double precision NOT NULL DEFAULT 0,
    series        integer          NOT NULL DEFAULT 0,
    transitions   integer          NOT NULL DEFAULT 0,
    data_missing  boolean          NOT NULL DEFAULT false,
    -- The last evaluation that had data: series still breaching (or still resolved) since their row was
    -- written are not rewritten each time; their clocks are this (service/alerting/state_store.py).
    last_data_at  timestamptz
);
