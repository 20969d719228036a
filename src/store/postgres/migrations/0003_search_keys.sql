-- Log search without reading payloads: each message's identifiers (models/search-keys.ts) in
-- their own table, looked up exactly or by prefix. "C" collation: a prefix is then a plain byte
-- range of the index, whatever the database's locale.
CREATE TABLE search_keys (
  org_id TEXT NOT NULL,
  key TEXT COLLATE "C" NOT NULL,
  message_id BIGINT NOT NULL,
  PRIMARY KEY (org_id, key, message_id)
);
CREATE INDEX search_keys_message ON search_keys (message_id);
