-- PostgreSQL's 0007 (change-feed positions) has no SQLite counterpart: SQLite's single
-- writer keeps its counter. This file keeps both migration lists numbered alike.
SELECT 1;
