-- Incidents, their events and status history; users, sessions, API keys; settings.
-- Times are UTC milliseconds since the Unix epoch.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('change_seq', 0);

CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    first_seen_ms    INTEGER NOT NULL,
    last_activity_ms INTEGER NOT NULL,
    severity         REAL    NOT NULL,
    risk_rank        INTEGER NOT NULL,
    category         TEXT    NOT NULL,
    threat_name      TEXT    NOT NULL,
    endpoint_ip      TEXT    NOT NULL,
    endpoint_key     TEXT    NOT NULL,
    endpoint_name    TEXT,
    endpoint_os      TEXT,
    endpoint_user    TEXT,
    source_ip        TEXT,
    source_name      TEXT,
    source_country   TEXT,
    progression      INTEGER NOT NULL,
    collector_id     TEXT,
    collector_type   TEXT    NOT NULL,
    file_sha256      TEXT,
    event_count      INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    change_seq       INTEGER NOT NULL
);
CREATE INDEX incidents_by_time     ON incidents (last_activity_ms, id);
CREATE INDEX incidents_by_risk     ON incidents (risk_rank, last_activity_ms, id);
CREATE INDEX incidents_by_endpoint ON incidents (endpoint_key, id);
CREATE INDEX incidents_grouping    ON incidents (endpoint_ip, last_activity_ms);
CREATE UNIQUE INDEX incidents_by_change ON incidents (change_seq);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id    INTEGER NOT NULL REFERENCES incidents (id),
    kind           TEXT    NOT NULL,
    time_ms        INTEGER NOT NULL,
    severity       REAL    NOT NULL,
    category       TEXT    NOT NULL,
    threat_name    TEXT    NOT NULL,
    endpoint_ip    TEXT    NOT NULL,
    endpoint_name  TEXT,
    endpoint_os    TEXT,
    endpoint_user  TEXT,
    source_ip      TEXT,
    source_name    TEXT,
    source_country TEXT,
    progression    INTEGER NOT NULL,
    collector_id   TEXT,
    collector_type TEXT    NOT NULL,
    file_sha256    TEXT
);
CREATE INDEX events_by_incident ON events (incident_id, time_ms);

CREATE TABLE status_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    comment     TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX status_changes_by_incident ON status_changes (incident_id, id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    expires_ms INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL UNIQUE,
    prefix     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, id);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
