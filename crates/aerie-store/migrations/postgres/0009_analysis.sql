-- Files submitted for analysis (the original API's file_submit and the Uploads page) and
-- their verdicts; events by time (the original API's windowed lists) and by file
-- (hash reputation).

CREATE TABLE analyses (
    event_id     BIGINT PRIMARY KEY REFERENCES events (id),
    sha256       TEXT    NOT NULL,
    md5          TEXT    NOT NULL,
    file_name    TEXT    NOT NULL,
    size         BIGINT NOT NULL,
    submitted_ms BIGINT NOT NULL,
    done_ms      BIGINT,
    severity     DOUBLE PRECISION,
    malware_name TEXT,
    reason       TEXT
);
CREATE INDEX analyses_by_md5 ON analyses (md5, event_id);

CREATE INDEX events_by_time ON events (time_ms, id);
CREATE INDEX events_by_file ON events (file_sha256) WHERE file_sha256 IS NOT NULL;
