-- RCA documents and their versions. Every save is a new row in rca_versions; rows are never
-- changed, so the history of a postmortem is evidence just like the incident timeline it came from.

CREATE TABLE rca_documents (
    incident_id     bigint      PRIMARY KEY REFERENCES incidents (id),
    current_version integer     NOT NULL CHECK (current_version >= 1),
    template        text        NOT NULL CHECK (length(template) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL
);

CREATE TABLE rca_versions (
    incident_id   bigint      NOT NULL REFERENCES rca_documents (incident_id),
    version       integer     NOT NULL CHECK (version >= 1),
    markdown      text        NOT NULL,
    author        text        NOT NULL,
    author_source text        NOT NULL,
    reason        text        NOT NULL CHECK (reason IN ('generated', 'edited', 'regenerated')),
    created_at    timestamptz NOT NULL,
    -- The metric chart as generated with this version (NULL: no numeric values); served as
    -- /api/v1/incidents/{id}/rca/chart.svg. Edits carry the previous version's chart forward.
    chart_svg     text,
    PRIMARY KEY (incident_id, version)
);

-- current_version always names a stored version; checked at commit, since both rows are written together.
ALTER TABLE rca_documents
    ADD CONSTRAINT rca_documents_current_version_fk FOREIGN KEY (incident_id, current_version)
    REFERENCES rca_versions (incident_id, version) DEFERRABLE INITIALLY DEFERRED;

CREATE FUNCTION rca_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rca_versions rows are immutable; save a new version instead';
END;
$$;
CREATE TRIGGER rca_versions_no_update BEFORE UPDATE OR DELETE ON rca_versions
    FOR EACH ROW EXECUTE FUNCTION rca_versions_immutable();
