-- Resync epochs and removal records (docs/protocol.md, "Epochs"). Versions of a CM's
-- incidents compare only within one epoch; a resync opens the next, replaces every row
-- it sends and drops the rest. A removal leaves a version floor, so an older batch
-- applied after it cannot bring the incident back.

ALTER TABLE cms ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE remote_incidents ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;

CREATE TABLE remote_removals (
    cm_id       INTEGER NOT NULL REFERENCES cms (id),
    incident_id INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (cm_id, incident_id)
);
