-- Change positions pack the writing transaction's id (see src/sql/feed.rs); the base
-- keeps them above every position issued before (the old counter, a restored copy).
INSERT INTO counters (name, value) VALUES ('change_base', 0);
