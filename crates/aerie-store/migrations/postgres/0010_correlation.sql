-- Cross-CM correlation on the MCM: each indicator of each CM incident in the MCM's
-- table, kept with the table in the same transaction as every sync batch. Keyed by the
-- incident (a batch rewrites an incident's rows), indexed by the indicator (campaigns
-- and "also seen on" read by it, the index covering what they need).

CREATE TABLE indicator_sightings (
    cm_id         BIGINT NOT NULL,
    incident_id   BIGINT NOT NULL,
    kind          TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    PRIMARY KEY (cm_id, incident_id, kind, value)
);
CREATE INDEX sightings_by_indicator ON indicator_sightings (kind, value, last_seen_ms, cm_id);

INSERT INTO indicator_sightings (cm_id, incident_id, kind, value, first_seen_ms, last_seen_ms)
SELECT cm_id, incident_id, 'file_sha256', lower(file_sha256), first_seen_ms, last_activity_ms
FROM remote_incidents WHERE file_sha256 IS NOT NULL;
