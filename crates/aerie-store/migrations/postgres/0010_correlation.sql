-- Cross-CM correlation on the MCM: each indicator of each CM incident in the MCM's
-- table, kept with the table in the same transaction as every sync batch.

CREATE TABLE indicator_sightings (
    kind          TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    cm_id         BIGINT NOT NULL,
    incident_id   BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    PRIMARY KEY (kind, value, cm_id, incident_id)
);
CREATE INDEX sightings_by_incident ON indicator_sightings (cm_id, incident_id);
CREATE INDEX sightings_by_time ON indicator_sightings (last_seen_ms);

INSERT INTO indicator_sightings (kind, value, cm_id, incident_id, first_seen_ms, last_seen_ms)
SELECT 'file_sha256', lower(file_sha256), cm_id, incident_id, first_seen_ms, last_activity_ms
FROM remote_incidents WHERE file_sha256 IS NOT NULL;
