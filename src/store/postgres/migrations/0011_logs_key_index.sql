-- switchboard:no-transaction
-- A key's logs in order, walked from its head: within a key logs leave in order, so the walk
-- finds the head's successors first. Not partial on `status`: an index on it would make every
-- delivery's UPDATE of the log a non-HOT update on PostgreSQL (new entries in every index).
CREATE INDEX CONCURRENTLY IF NOT EXISTS logs_key ON logs (org_id, destination_id, ordering_key, seq) WHERE ordering_key IS NOT NULL;
