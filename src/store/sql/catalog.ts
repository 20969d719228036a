import type { CatalogSnapshot } from '../../models/entities.ts';
import type { CatalogInput, CatalogStore } from '../roles/catalog-store.ts';
import { toCatalog } from '../rows.ts';
import type { Database } from './database.ts';

export class SqlCatalogStore implements CatalogStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async getOrCreateSetting(key: string, candidate: string): Promise<string> {
    return this.#db.transaction(async (tx) => {
      await tx.run('INSERT INTO settings (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING', {
        key,
        value: candidate,
      });
      return (await tx.get<{ value: string }>('SELECT value FROM settings WHERE key = :key', { key }))!.value;
    });
  }

  async syncCatalog(catalog: CatalogInput): Promise<void> {
    const lock = this.#db.dialect.transactionLock('catalog');
    await this.#db.transaction(async (tx) => {
      // Instances starting together would otherwise interleave the deletes and inserts below.
      if (lock) await tx.run(lock);
      for (const org of catalog.organizations) {
        await tx.run(
          `INSERT INTO organizations (id, name, alert_email, alert_webhooks, rate_limit)
           VALUES (:id, :name, :alertEmail, :alertWebhooks, :rateLimit)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, alert_email = excluded.alert_email,
             alert_webhooks = excluded.alert_webhooks, rate_limit = excluded.rate_limit`,
          {
            id: org.id,
            name: org.name,
            alertEmail: org.alertEmail ?? null,
            alertWebhooks: JSON.stringify(org.alertWebhooks ?? []),
            rateLimit: org.rateLimit ?? null,
          },
        );
        await tx.run('DELETE FROM platform_keys WHERE org_id = :orgId', { orgId: org.id });
        await tx.run('DELETE FROM subscriptions WHERE org_id = :orgId', { orgId: org.id });
      }
      for (const key of catalog.platformKeys)
        await tx.run(
          `INSERT INTO platform_keys (key_digest, org_id) VALUES (:keyDigest, :orgId)
           ON CONFLICT (key_digest) DO UPDATE SET org_id = excluded.org_id`,
          key,
        );
      for (const s of catalog.sources)
        await tx.run(
          `INSERT INTO sources (org_id, id, name, environment, client_id, secret_hash, jwks, jwks_url, disabled)
           VALUES (:orgId, :id, :name, :environment, :clientId, :secretHash, :jwks, :jwksUrl, :disabled)
           ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
             client_id = excluded.client_id, secret_hash = excluded.secret_hash, jwks = excluded.jwks,
             jwks_url = excluded.jwks_url, disabled = excluded.disabled`,
          {
            orgId: s.orgId,
            id: s.id,
            name: s.name,
            environment: s.environment,
            clientId: s.clientId,
            secretHash: s.secretHash ?? null,
            jwks: s.jwks === undefined ? null : JSON.stringify(s.jwks),
            jwksUrl: s.jwksUrl ?? null,
            disabled: s.disabled ?? false,
          },
        );
      for (const d of catalog.destinations) {
        await tx.run(
          `INSERT INTO destinations (org_id, id, name, environment, url, fhir_base_url, verification_token,
             signing_secret, timeout_ms, query_timeout_ms, retry_initial_delay_ms, retry_max_delay_ms)
           VALUES (:orgId, :id, :name, :environment, :url, :fhirBaseUrl, :verificationToken, :signingSecret,
             :timeoutMs, :queryTimeoutMs, :retryInitialDelayMs, :retryMaxDelayMs)
           ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
             url = excluded.url, fhir_base_url = excluded.fhir_base_url,
             verification_token = excluded.verification_token, signing_secret = excluded.signing_secret,
             timeout_ms = excluded.timeout_ms, query_timeout_ms = excluded.query_timeout_ms,
             retry_initial_delay_ms = excluded.retry_initial_delay_ms,
             retry_max_delay_ms = excluded.retry_max_delay_ms`,
          {
            orgId: d.orgId,
            id: d.id,
            name: d.name,
            environment: d.environment,
            url: d.url,
            fhirBaseUrl: d.fhirBaseUrl ?? null,
            verificationToken: d.verificationToken ?? null,
            signingSecret: d.signingSecret ?? null,
            timeoutMs: d.timeoutMs ?? null,
            queryTimeoutMs: d.queryTimeoutMs ?? null,
            retryInitialDelayMs: d.retryInitialDelayMs ?? null,
            retryMaxDelayMs: d.retryMaxDelayMs ?? null,
          },
        );
        await tx.run(
          `INSERT INTO queues (org_id, destination_id) VALUES (:orgId, :id)
           ON CONFLICT (org_id, destination_id) DO NOTHING`,
          { orgId: d.orgId, id: d.id },
        );
      }
      for (const s of catalog.subscriptions)
        await tx.run(
          `INSERT INTO subscriptions (org_id, source_id, data_model, event_types, destination_id)
           VALUES (:orgId, :sourceId, :dataModel, :eventTypes, :destinationId)
           ON CONFLICT (org_id, source_id, data_model, destination_id)
           DO UPDATE SET event_types = excluded.event_types`,
          {
            orgId: s.orgId,
            sourceId: s.sourceId,
            dataModel: s.dataModel,
            eventTypes: s.eventTypes ? JSON.stringify(s.eventTypes) : null,
            destinationId: s.destinationId,
          },
        );
    });
  }

  async loadCatalog(): Promise<CatalogSnapshot> {
    const db = this.#db;
    const [organizations, platformKeys, sources, destinations, subscriptions] = await Promise.all([
      db.all('SELECT id, name, alert_email, alert_webhooks, rate_limit FROM organizations'),
      db.all('SELECT key_digest, org_id FROM platform_keys'),
      db.all('SELECT * FROM sources'),
      db.all('SELECT * FROM destinations'),
      db.all('SELECT * FROM subscriptions'),
    ]);
    return toCatalog({ organizations, platformKeys, sources, destinations, subscriptions });
  }
}
