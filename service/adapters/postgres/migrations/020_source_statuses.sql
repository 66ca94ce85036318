-- The last read of every source and scrape target, as any replica saw it last: what
-- GET /api/v1/sources shows, the same from every replica and after a restart.
-- One row per (kind, source, instance); `instance` is '' for a source read as one (a Prometheus
-- server, a SQL probe). A newer read replaces an older one whichever replica made it.

CREATE TABLE source_statuses (
    kind text NOT NULL,
    source text NOT NULL,
    instance text NOT NULL,
    labels jsonb NOT NULL DEFAULT '{}'::jsonb,
    up boolean NOT NULL,
    error text,
    warning text,
    read_at timestamptz NOT NULL,
    duration_seconds double precision NOT NULL,
    samples integer,
    dropped_samples integer NOT NULL DEFAULT 0,
    last_success_at timestamptz,
    replica text NOT NULL,
    PRIMARY KEY (kind, source, instance)
);
