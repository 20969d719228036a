import type {
  Destination,
  Organization,
  Origin,
  PlatformKey,
  Source,
  Subscription,
} from '../../models/entities.ts';
import type { Executor } from './database.ts';

/**
 * The catalog's rows, written the same way by the config file's sync and by the Platform API:
 * each an upsert that also says who manages the row from now on.
 */

export async function putOrganization(tx: Executor, org: Organization, origin: Origin): Promise<void> {
  await tx.run(
    `INSERT INTO organizations (id, name, alert_email, alert_webhooks, rate_limit, origin)
     VALUES (:id, :name, :alertEmail, :alertWebhooks, :rateLimit, :origin)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, alert_email = excluded.alert_email,
       alert_webhooks = excluded.alert_webhooks, rate_limit = excluded.rate_limit, origin = excluded.origin`,
    {
      id: org.id,
      name: org.name,
      alertEmail: org.alertEmail ?? null,
      alertWebhooks: JSON.stringify(org.alertWebhooks ?? []),
      rateLimit: org.rateLimit ?? null,
      origin,
    },
  );
}

export async function putSource(tx: Executor, s: Source, origin: Origin): Promise<void> {
  await tx.run(
    `INSERT INTO sources (org_id, id, name, environment, client_id, secret_hash, jwks, jwks_url, disabled, validation,
       origin)
     VALUES (:orgId, :id, :name, :environment, :clientId, :secretHash, :jwks, :jwksUrl, :disabled, :validation, :origin)
     ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
       client_id = excluded.client_id, secret_hash = excluded.secret_hash, jwks = excluded.jwks,
       jwks_url = excluded.jwks_url, disabled = excluded.disabled, validation = excluded.validation,
       origin = excluded.origin`,
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
      validation: s.validation ?? 'strict',
      origin,
    },
  );
}

export async function putDestination(tx: Executor, d: Destination, origin: Origin): Promise<void> {
  await tx.run(
    `INSERT INTO destinations (org_id, id, name, environment, url, fhir_base_url, verification_token,
       signing_secret, timeout_ms, query_timeout_ms, retry_initial_delay_ms, retry_max_delay_ms, ordering_key,
       max_in_flight, origin)
     VALUES (:orgId, :id, :name, :environment, :url, :fhirBaseUrl, :verificationToken, :signingSecret,
       :timeoutMs, :queryTimeoutMs, :retryInitialDelayMs, :retryMaxDelayMs, :orderingKey, :maxInFlight, :origin)
     ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
       url = excluded.url, fhir_base_url = excluded.fhir_base_url,
       verification_token = excluded.verification_token, signing_secret = excluded.signing_secret,
       timeout_ms = excluded.timeout_ms, query_timeout_ms = excluded.query_timeout_ms,
       retry_initial_delay_ms = excluded.retry_initial_delay_ms,
       retry_max_delay_ms = excluded.retry_max_delay_ms, ordering_key = excluded.ordering_key,
       max_in_flight = excluded.max_in_flight, origin = excluded.origin`,
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
      orderingKey: d.orderingKey ?? null,
      maxInFlight: d.maxInFlight ?? null,
      origin,
    },
  );
  // A destination's queue outlives it: its logs' sequence numbers go on from it if it comes back.
  await tx.run(
    `INSERT INTO queues (org_id, destination_id) VALUES (:orgId, :id)
     ON CONFLICT (org_id, destination_id) DO NOTHING`,
    { orgId: d.orgId, id: d.id },
  );
}

export async function putSubscription(tx: Executor, s: Subscription, origin: Origin): Promise<void> {
  await tx.run(
    `INSERT INTO subscriptions (org_id, id, source_id, data_model, event_types, destination_id, origin)
     VALUES (:orgId, :id, :sourceId, :dataModel, :eventTypes, :destinationId, :origin)
     ON CONFLICT (org_id, source_id, data_model, destination_id)
     DO UPDATE SET id = excluded.id, event_types = excluded.event_types, origin = excluded.origin`,
    {
      orgId: s.orgId,
      id: s.id,
      sourceId: s.sourceId,
      dataModel: s.dataModel,
      eventTypes: s.eventTypes ? JSON.stringify(s.eventTypes) : null,
      destinationId: s.destinationId,
      origin,
    },
  );
}

export async function putPlatformKey(tx: Executor, key: PlatformKey, origin: Origin): Promise<void> {
  await tx.run(
    `INSERT INTO platform_keys (key_digest, org_id, id, name, created_at, origin)
     VALUES (:keyDigest, :orgId, :id, :name, :createdAt, :origin)
     ON CONFLICT (key_digest) DO UPDATE SET org_id = excluded.org_id, id = excluded.id,
       name = excluded.name, origin = excluded.origin`,
    { ...key, origin },
  );
}

/** Bumps the catalog version (in the caller's transaction) and answers the new one. */
export async function bumpCatalogVersion(tx: Executor): Promise<number> {
  const row = await tx.get<{ value: string }>(
    `UPDATE settings SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'catalog_version'
     RETURNING value`,
  );
  return Number(row?.value ?? 0);
}
