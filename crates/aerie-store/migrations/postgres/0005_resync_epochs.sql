-- Resync epochs and removal records (docs/protocol.md, "Epochs"). Versions of a CM's
-- incidents compare only within one epoch; a resync opens the next, replaces every row
-- it sends and drops the rest. A removal leaves a version floor, so an older batch
-- applied after it cannot bring the incident back.

ALTER TABLE cms ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE remote_incidents ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;

CREATE TABLE remote_removals (
    cm_id       BIGINT NOT NULL REFERENCES cms (id),
    incident_id BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (cm_id, incident_id)
);
