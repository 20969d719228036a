import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import { FHIR_DATA_MODEL, subscriptionRoute } from './schemas.ts';
import { canonicalDataModel } from '../models/data-models.ts';
import type { Source } from '../models/entities.ts';
import { digestKey, hashSecret, verifySecret } from '../lib/secrets.ts';
import type { CatalogInput, CatalogStore } from '../store/roles/catalog-store.ts';

/**
 * Writes the tenants declared in the config file into the store. Client secrets are stored only
 * as slow hashes; an unchanged secret keeps its stored hash, so restarts do not rehash.
 */
export async function syncConfiguredCatalog(store: CatalogStore, config: Config): Promise<void> {
  const existing = await store.loadCatalog();
  const hashes = new Map(existing.sources.map((s) => [`${s.orgId}/${s.id}`, s.secretHash]));
  const input: CatalogInput = {
    organizations: [],
    sources: [],
    destinations: [],
    subscriptions: [],
    platformKeys: [],
  };
  for (const org of config.organizations) {
    input.organizations.push({
      id: org.id,
      name: org.name,
      alertEmail: org.alertEmail,
      alertWebhooks: org.alertWebhooks,
      rateLimit: org.rateLimit,
    });
    org.platformKeys.forEach((key, i) => {
      const keyDigest = digestKey(key);
      input.platformKeys.push({
        orgId: org.id,
        id: keyDigest.slice(0, 16),
        name: `config file key ${i + 1}`,
        keyDigest,
        createdAt: null,
      });
    });
    for (const s of org.sources) {
      const source: Source = {
        orgId: org.id,
        id: s.id,
        name: s.name,
        environment: s.environment,
        clientId: s.clientId,
        jwks: s.jwks,
        jwksUrl: s.jwksUrl,
        disabled: s.disabled,
        validation: s.validation,
      };
      if (s.clientSecret) {
        const stored = hashes.get(`${org.id}/${s.id}`);
        source.secretHash =
          stored && (await verifySecret(s.clientSecret, stored)) ? stored : await hashSecret(s.clientSecret);
      }
      input.sources.push(source);
    }
    for (const d of org.destinations) input.destinations.push({ orgId: org.id, ...d });
    for (const s of org.subscriptions) {
      // The config schema checked that each has a route.
      const route = subscriptionRoute(s) ?? { dataModel: s.dataModel ?? FHIR_DATA_MODEL };
      input.subscriptions.push({
        orgId: org.id,
        id: s.id ?? fileSubscriptionId(s.source, route.dataModel, s.destination),
        sourceId: s.source,
        dataModel: route.dataModel,
        eventTypes: route.eventTypes,
        destinationId: s.destination,
      });
    }
  }
  await store.syncCatalog(input);
}

/** A subscription the file declares without an id gets one that stays the same across starts. */
export function fileSubscriptionId(source: string, dataModel: string, destination: string): string {
  const canonical = canonicalDataModel(dataModel) ?? dataModel;
  return `sub_${createHash('sha256').update(`${source}\u0000${canonical}\u0000${destination}`).digest('hex').slice(0, 16)}`;
}
