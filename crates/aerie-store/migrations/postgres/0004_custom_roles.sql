-- Custom roles built from permissions. Seeded roles (viewer, analyst, admin) are not
-- stored: their permissions are defined in code. users.role holds a role name.

CREATE TABLE roles (
    name        TEXT    PRIMARY KEY,
    permissions TEXT    NOT NULL,  -- comma-separated permission names
    created_ms  BIGINT  NOT NULL
);
