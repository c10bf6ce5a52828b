-- Artifacts are kept in chunks of 256 KiB (at most 64 for the 16 MiB cap), so a download
-- streams them one at a time instead of holding the whole artifact in memory.

CREATE TABLE artifact_chunks (
    sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
    n      INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (sha256, n)
);

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 63)
INSERT INTO artifact_chunks (sha256, n, data)
SELECT a.sha256, n.i, substr(a.data, n.i * 262144 + 1, 262144)
FROM artifacts a JOIN n ON n.i * 262144 < length(a.data);

ALTER TABLE artifacts DROP COLUMN data;
