-- Federation. On an MCM: the CMs it knows and its copy of their incident tables.

CREATE TABLE cms (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uid              TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    ip               TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    fips             INTEGER NOT NULL,
    cert_fingerprint TEXT    NOT NULL,
    credential_hash  TEXT UNIQUE,
    proxy_token      TEXT,
    registered_ms    INTEGER NOT NULL,
    last_seen_ms     INTEGER,
    last_sync_ms     INTEGER,
    acked_seq        INTEGER NOT NULL DEFAULT 0,
    backlog          INTEGER NOT NULL DEFAULT 0,
    incident_count   INTEGER NOT NULL DEFAULT 0,
    deregistered_ms  INTEGER
);

CREATE TABLE remote_incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    cm_id            INTEGER NOT NULL REFERENCES cms (id),
    incident_id      INTEGER NOT NULL,
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
    change_seq       INTEGER NOT NULL,
    UNIQUE (cm_id, incident_id)
);
CREATE INDEX remote_by_time     ON remote_incidents (last_activity_ms, id);
CREATE INDEX remote_by_risk     ON remote_incidents (risk_rank, last_activity_ms, id);
CREATE INDEX remote_by_endpoint ON remote_incidents (endpoint_key, id);
CREATE INDEX remote_by_cm_time  ON remote_incidents (cm_id, last_activity_ms, id);
