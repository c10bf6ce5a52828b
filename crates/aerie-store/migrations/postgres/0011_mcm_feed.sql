-- The MCM's own change feed over its copy of the CMs' incidents: every row a sync batch
-- writes takes the batch's position (`feed_seq`, a change-feed position, see src/sql/feed.rs), so
-- followers (the correlation, the SIEM feed) page the table by (feed_seq, id) and keep
-- a durable cursor each in `feed_cursors`. Rows from before this migration sit at 0,
-- so a new follower starts by reading the whole table once.

ALTER TABLE remote_incidents ADD COLUMN feed_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX remote_by_feed ON remote_incidents (feed_seq, id);

CREATE TABLE feed_cursors (
    name     TEXT    PRIMARY KEY,
    position BIGINT NOT NULL,
    row_id   BIGINT NOT NULL
);
