-- Log search without reading payloads: each message's identifiers (models/search-keys.ts) in
-- their own table, looked up exactly or by prefix.
CREATE TABLE search_keys (
  org_id TEXT NOT NULL,
  key TEXT NOT NULL,
  message_id INTEGER NOT NULL,
  PRIMARY KEY (org_id, key, message_id)
) WITHOUT ROWID;
CREATE INDEX search_keys_message ON search_keys (message_id);
