-- What every replica must see at once about mutes, which maintenance-window notices Slack got, and a
-- pushed alert's re-send that PostgreSQL can write in place.

-- Bumped in the same transaction as every change to silences or one-off windows. A replica reuses the
-- mutes it loaded only while this is unchanged, so a silence made on one replica holds on all of them
-- from its commit on (service/silences/snapshot.py).
CREATE TABLE mute_generation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint  NOT NULL
);
INSERT INTO mute_generation (singleton, generation) VALUES (true, 0);

CREATE FUNCTION bump_mute_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An upsert, so an emptied table (a test's TRUNCATE) counts on from 1; readers take no row as 0.
    INSERT INTO mute_generation (singleton, generation) VALUES (true, 1)
    ON CONFLICT (singleton) DO UPDATE SET generation = mute_generation.generation + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER silences_bump_mute_generation AFTER INSERT OR UPDATE OR DELETE ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION bump_mute_generation();
CREATE TRIGGER maintenance_windows_bump_mute_generation AFTER INSERT OR UPDATE OR DELETE ON maintenance_windows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_mute_generation();

-- One row per occurrence of a maintenance window Slack was told had started; the warning before an
-- ad-hoc window ends and the end are stamped on it, each claimed once across replicas.
-- window_key: 'recurring:<name>' (policy) or 'one-off:<id>'; occurrence names the occurrence: a one-off
-- window's start, a recurring window's end that time (a recurring window opens again and again).
CREATE TABLE maintenance_notices (
    window_key  text        NOT NULL CHECK (length(window_key) BETWEEN 1 AND 300),
    occurrence  timestamptz NOT NULL,
    name        text        NOT NULL,
    matchers    text        NOT NULL DEFAULT '',
    owner       text        NOT NULL DEFAULT '',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    adhoc       boolean     NOT NULL,
    started_at  timestamptz NOT NULL,
    warned_at   timestamptz,
    ended_at    timestamptz,
    PRIMARY KEY (window_key, occurrence)
);
CREATE INDEX maintenance_notices_open ON maintenance_notices (ends_at) WHERE ended_at IS NULL;

-- Prometheus re-sends every firing alert each minute with a later endsAt. With ends_at indexed, each re-send
-- wrote a new row version into every index of the table. The expiry worker now finds alerts by lapse_at: set
-- to ends_at when an alert starts firing or a re-send brings ends_at forward, and moved on by the worker when
-- it finds an alert re-sent. A re-send that extends ends_at changes no indexed column, so the row is updated
-- in place (a HOT update), for which the table keeps room in its pages.
ALTER TABLE pushed_alerts ADD COLUMN lapse_at timestamptz;
UPDATE pushed_alerts SET lapse_at = ends_at;
ALTER TABLE pushed_alerts ALTER COLUMN lapse_at SET NOT NULL;
ALTER TABLE pushed_alerts ADD CONSTRAINT pushed_alerts_lapse_not_after_end CHECK (lapse_at <= ends_at);
DROP INDEX pushed_alerts_firing_ends;
CREATE INDEX pushed_alerts_firing_lapse ON pushed_alerts (lapse_at) WHERE status = 'firing';
ALTER TABLE pushed_alerts SET (fillfactor = 50);
