-- Investigation and mitigation: behaviour and artifacts of events, mitigations, the
-- whitelist and the hash-chained audit log.

ALTER TABLE events ADD COLUMN behaviour TEXT;  -- JSON; NULL when the sensor sent none
ALTER TABLE events ADD COLUMN artifacts TEXT;  -- JSON array of SHA-256; NULL when none

CREATE TABLE artifacts (
    sha256     TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE mitigations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    kind        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER,
    revoked_by  TEXT
);
CREATE INDEX mitigations_by_incident ON mitigations (incident_id, id);
CREATE INDEX mitigations_by_kind ON mitigations (kind, revoked_ms, value);

CREATE TABLE whitelist (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    removed_ms INTEGER,
    removed_by TEXT
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
INSERT INTO counters (name, value) VALUES ('audit_seq', 0);
