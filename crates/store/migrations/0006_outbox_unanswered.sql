-- When the last write of an outbox item got no answer (a timeout or a connection broken after
-- the request was sent, HTTP 500/502/504): Salesforce may still carry it out for up to 10
-- minutes, so the worker does not write it again before then. Kept here, not in memory, so a
-- restart within those minutes waits too instead of writing a second Task.
ALTER TABLE outbox ADD COLUMN unanswered_since INTEGER;
