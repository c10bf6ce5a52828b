-- Artifacts are kept in chunks of 256 KiB (at most 64 for the 16 MiB cap), so a download
-- streams them one at a time instead of holding the whole artifact in memory.

CREATE TABLE artifact_chunks (
    sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
    n      BIGINT NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (sha256, n)
);

INSERT INTO artifact_chunks (sha256, n, data)
SELECT a.sha256, n.i, substring(a.data FROM n.i * 262144 + 1 FOR 262144)
FROM artifacts a CROSS JOIN generate_series(0, 63) AS n(i)
WHERE n.i * 262144 < length(a.data);

ALTER TABLE artifacts DROP COLUMN data;
