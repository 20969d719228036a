-- The log list is ordered by creation time: its index carries `created_at` (and, implicitly, the
-- rowid `pk`), so a date range is a range of the index and a page a short walk of it.
CREATE INDEX logs_org_time ON logs (org_id, created_at);
DROP INDEX logs_org;
