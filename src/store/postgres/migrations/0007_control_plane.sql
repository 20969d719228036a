-- The control plane (SPEC 6). `origin` says who manages an entity: the config file ('file',
-- reapplied at every start and refused through the API) or the Platform API ('api'). Every row
-- so far came from the file. Subscriptions and platform keys get ids of their own, the catalog a
-- version every write bumps (instances compare it to see a change they were not told of), and
-- operators' actions an audit trail.
ALTER TABLE organizations ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
ALTER TABLE sources ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
ALTER TABLE destinations ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
ALTER TABLE subscriptions ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
ALTER TABLE subscriptions ADD COLUMN id TEXT;
UPDATE subscriptions SET id = substr(md5(random()::text), 1, 16);
CREATE UNIQUE INDEX subscriptions_id ON subscriptions (org_id, id);
ALTER TABLE platform_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'file';
ALTER TABLE platform_keys ADD COLUMN id TEXT;
ALTER TABLE platform_keys ADD COLUMN name TEXT;
ALTER TABLE platform_keys ADD COLUMN created_at BIGINT;
UPDATE platform_keys SET id = substr(key_digest, 1, 16), name = 'config file';
CREATE UNIQUE INDEX platform_keys_id ON platform_keys (org_id, id);
INSERT INTO settings (key, value) VALUES ('catalog_version', '1') ON CONFLICT (key) DO NOTHING;

CREATE TABLE audit (
  pk BIGSERIAL PRIMARY KEY,
  org_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  changes TEXT NOT NULL
);
CREATE INDEX audit_org ON audit (org_id, pk);
CREATE INDEX audit_at ON audit (at);
