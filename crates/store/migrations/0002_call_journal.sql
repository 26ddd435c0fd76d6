-- The call journal: what the connector knows of each call it will log, from the moment it
-- first sees the call until the call's log is in the outbox (the row is deleted in the same
-- transaction). A row that outlives its call means the HANGUP was never taken: the process
-- died, or the call ended while no session was listening.
CREATE TABLE call_journal (
    instance_id   INTEGER NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    call_id       TEXT    NOT NULL CHECK (length(call_id) BETWEEN 1 AND 255),
    login         TEXT    NOT NULL CHECK (length(login) BETWEEN 1 AND 255),
    data          TEXT    NOT NULL CHECK (json_valid(data)),
    first_seen_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (instance_id, login, call_id)
);

-- When a connector process last said it was alive: after a crash, the latest moment it could
-- still have received a HANGUP.
CREATE TABLE liveness (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    alive_at INTEGER NOT NULL
);
