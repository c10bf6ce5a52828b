-- Single sign-on state shared by every front end: logins sent to the IdP and not yet
-- answered, and the identifiers of answers already used (the replay cache).

CREATE TABLE sso_pending (
    id         TEXT PRIMARY KEY,
    login      TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

CREATE TABLE sso_seen (
    id         TEXT PRIMARY KEY,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX sso_seen_by_expiry ON sso_seen (expires_ms);
