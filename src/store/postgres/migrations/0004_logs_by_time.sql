-- switchboard:no-transaction
-- The log list is ordered by creation time: its index carries `created_at`, so a date range is a
-- range of the index and a page a short walk of it. Built CONCURRENTLY: on a database with
-- millions of logs the build takes a while, and accepts and deliveries go on meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS logs_org_time ON logs (org_id, created_at, pk);
DROP INDEX CONCURRENTLY IF EXISTS logs_org;
