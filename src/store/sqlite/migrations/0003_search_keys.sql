-- Log search without reading payloads: each message's identifiers (models/search-keys.ts) in
-- their own table, looked up exactly or by prefix. The log list is ordered by creation time,
-- so its index carries `created_at` (and, implicitly, the rowid `pk`): a date range is a range
-- of the index, and a page a short walk of it.
CREATE TABLE search_keys (
  org_id TEXT NOT NULL,
  key TEXT NOT NULL,
  message_id INTEGER NOT NULL,
  PRIMARY KEY (org_id, key, message_id)
) WITHOUT ROWID;
CREATE INDEX search_keys_message ON search_keys (message_id);
DROP INDEX logs_org;
CREATE INDEX logs_org_time ON logs (org_id, created_at);
