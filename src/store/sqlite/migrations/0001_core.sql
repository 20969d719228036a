-- The first schema. Times are epoch milliseconds.
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  alert_email TEXT,
  alert_webhooks TEXT NOT NULL DEFAULT '[]',
  rate_limit INTEGER
);

CREATE TABLE platform_keys (
  key_digest TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations(id)
);

CREATE TABLE sources (
  org_id TEXT NOT NULL REFERENCES organizations(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  environment TEXT NOT NULL,
  client_id TEXT NOT NULL UNIQUE,
  secret_hash TEXT,
  jwks TEXT,
  jwks_url TEXT,
  disabled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);

CREATE TABLE destinations (
  org_id TEXT NOT NULL REFERENCES organizations(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  environment TEXT NOT NULL,
  url TEXT NOT NULL,
  fhir_base_url TEXT,
  verification_token TEXT,
  signing_secret TEXT,
  timeout_ms INTEGER,
  query_timeout_ms INTEGER,
  retry_initial_delay_ms INTEGER,
  retry_max_delay_ms INTEGER,
  PRIMARY KEY (org_id, id)
);

CREATE TABLE subscriptions (
  org_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  data_model TEXT NOT NULL,
  event_types TEXT,
  destination_id TEXT NOT NULL,
  PRIMARY KEY (org_id, source_id, data_model, destination_id)
);

CREATE TABLE queues (
  org_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  next_seq INTEGER NOT NULL DEFAULT 0,
  paused_by TEXT,
  paused_reason TEXT,
  paused_at INTEGER,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  alert_log_id TEXT,
  PRIMARY KEY (org_id, destination_id)
);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  org_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  received_at INTEGER NOT NULL
);

CREATE TABLE logs (
  pk INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  message_id INTEGER NOT NULL REFERENCES messages(id),
  org_id TEXT NOT NULL,
  type TEXT NOT NULL,
  source_id TEXT NOT NULL,
  destination_id TEXT,
  data_model TEXT NOT NULL,
  event_type TEXT NOT NULL,
  test INTEGER NOT NULL,
  seq INTEGER,
  status TEXT NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_id TEXT,
  next_attempt_at INTEGER,
  retry_of TEXT,
  failed_reason TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX logs_pending ON logs (org_id, destination_id, seq) WHERE status = 'pending';
CREATE INDEX logs_org ON logs (org_id, pk);
CREATE INDEX logs_message ON logs (message_id);

CREATE TABLE attempts (
  id TEXT PRIMARY KEY,
  log_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  request_url TEXT NOT NULL,
  status_code INTEGER,
  response_excerpt TEXT,
  error TEXT,
  outcome TEXT NOT NULL
);
CREATE INDEX attempts_log ON attempts (log_id, number);

CREATE TABLE one_time_keys (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, key)
);
CREATE INDEX one_time_keys_expiry ON one_time_keys (expires_at);

CREATE TABLE idempotency_keys (
  org_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  answer TEXT NOT NULL,
  message_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, source_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE alerts (
  pk INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  log_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  error TEXT,
  created_at INTEGER NOT NULL,
  sent_at INTEGER,
  channels TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX alerts_org ON alerts (org_id, pk);
CREATE INDEX alerts_unsent ON alerts (pk) WHERE sent_at IS NULL;
