import type { CatalogRefresher } from '../catalog/catalog-refresher.ts';
import type { Catalog } from '../catalog/catalog.ts';
import {
  destinationSchema,
  NO_CREDENTIALS,
  organizationSchema,
  platformKeySchema,
  sourceSchema,
  subscriptionSchema,
} from '../catalog/schemas.ts';
import { ApiError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { parseInput } from '../lib/parse-input.ts';
import { digestKey, hashSecret, randomToken } from '../lib/secrets.ts';
import type { Destination, Organization, PlatformKey, Source, Subscription } from '../models/entities.ts';
import type { CatalogChangeResult, CatalogOp, CatalogStore } from '../store/roles/catalog-store.ts';
import {
  auditFields,
  changedFields,
  destinationInput,
  destinationOf,
  mergePatch,
  organizationInput,
  organizationOf,
  sourceInput,
  sourceOf,
  subscriptionInput,
  subscriptionOf,
} from './catalog-resources.ts';
import { refusal } from './catalog-refusals.ts';

export interface CatalogAdminDeps {
  /** The sealing view of the store. */
  store: Pick<CatalogStore, 'changeCatalog'>;
  catalog: Catalog;
  refresher: CatalogRefresher;
  clock: Clock;
  /** The config file's path, named when a change to one of its entities is refused. */
  configFile?: string;
}

/** Who acts: the platform key's name, or `admin`. */
export interface Actor {
  name: string;
}

type Resource = 'organization' | 'source' | 'destination' | 'subscription' | 'platform-key';

const LABEL: Record<Resource, string> = {
  organization: 'Organization',
  source: 'Source',
  destination: 'Destination',
  subscription: 'Subscription',
  'platform-key': 'Platform key',
};

/**
 * Creating, changing and deleting the catalog through the Platform API (SPEC 6). Each change is
 * one transaction with its audit entry; the answer goes out once this instance's catalog has it,
 * and other instances load it within a second (catalog/catalog-refresher.ts).
 */
export class CatalogAdmin {
  readonly #deps: CatalogAdminDeps;

  constructor(deps: CatalogAdminDeps) {
    this.#deps = deps;
  }

  // --- organizations (admin key; a platform key reads and edits its own) ---

  async createOrganization(
    actor: Actor,
    body: unknown,
  ): Promise<{ organization: Organization; platformKey: string }> {
    const org = organizationOf(parseInput(organizationSchema, body));
    const { key, value } = this.#newKey(org.id, 'first key');
    await this.#change(actor, 'organization', org.id, 'create', auditFields({ ...organizationInput(org) }), [
      { kind: 'create', entity: 'organization', value: org },
      { kind: 'create', entity: 'platformKey', value },
    ]);
    return { organization: this.#deps.catalog.organization(org.id) ?? org, platformKey: key };
  }

  async updateOrganization(actor: Actor, id: string, patch: unknown): Promise<Organization> {
    const current = this.#found(this.#deps.catalog.organization(id), 'organization');
    const before = organizationInput(current);
    const org = organizationOf(mergePatch(organizationSchema, before, patch));
    await this.#change(
      actor,
      'organization',
      id,
      'update',
      changedFields(before, organizationInput(org)),
      [{ kind: 'update', entity: 'organization', value: org }],
      id,
    );
    return this.#deps.catalog.organization(id) ?? org;
  }

  async deleteOrganization(actor: Actor, id: string): Promise<void> {
    this.#found(this.#deps.catalog.organization(id), 'organization');
    await this.#change(
      actor,
      'organization',
      id,
      'delete',
      {},
      [{ kind: 'delete', entity: 'organization', orgId: id, id }],
      id,
    );
  }

  // --- sources ---

  async createSource(
    actor: Actor,
    orgId: string,
    body: unknown,
  ): Promise<{ source: Source; clientSecret?: string }> {
    const input = parseInput(sourceSchema, body);
    // Generated when not given, unless the source signs JWT assertions instead (SPEC 6).
    const clientSecret = input.clientSecret ?? (input.jwks || input.jwksUrl ? undefined : randomToken(32));
    const source = sourceOf(orgId, input, clientSecret ? await hashSecret(clientSecret) : undefined);
    await this.#change(
      actor,
      'source',
      source.id,
      'create',
      auditFields({ ...input, clientSecret }),
      [{ kind: 'create', entity: 'source', value: source }],
      orgId,
    );
    return {
      source: this.#deps.catalog.source(orgId, source.id) ?? source,
      ...(clientSecret ? { clientSecret } : {}),
    };
  }

  async updateSource(actor: Actor, orgId: string, id: string, patch: unknown): Promise<Source> {
    const current = this.#found(this.#deps.catalog.source(orgId, id), 'source');
    const before = sourceInput(current);
    const input = mergePatch(sourceSchema, before, patch);
    const secretHash = input.clientSecret ? await hashSecret(input.clientSecret) : current.secretHash;
    if (!secretHash && !input.jwks && !input.jwksUrl)
      throw new ApiError('INVALID_FIELD', `Invalid parameter request: ${NO_CREDENTIALS}`);
    const source = sourceOf(orgId, input, secretHash);
    const changes = changedFields(before, {
      ...sourceInput(source),
      ...(input.clientSecret ? { clientSecret: 1 } : {}),
    });
    await this.#change(
      actor,
      'source',
      id,
      'update',
      changes,
      [{ kind: 'update', entity: 'source', value: source }],
      orgId,
    );
    return this.#deps.catalog.source(orgId, id) ?? source;
  }

  /** A new client secret (given, or generated); the old one stops working at once. */
  async rotateSourceSecret(
    actor: Actor,
    orgId: string,
    id: string,
    body: unknown,
  ): Promise<{ source: Source; clientSecret: string }> {
    const current = this.#found(this.#deps.catalog.source(orgId, id), 'source');
    const given = parseInput(sourceSchema.pick({ clientSecret: true }), body ?? {});
    const clientSecret = given.clientSecret ?? randomToken(32);
    const source: Source = { ...current, secretHash: await hashSecret(clientSecret) };
    await this.#change(
      actor,
      'source',
      id,
      'rotate-secret',
      { clientSecret: '***' },
      [{ kind: 'update', entity: 'source', value: source }],
      orgId,
    );
    return { source: this.#deps.catalog.source(orgId, id) ?? source, clientSecret };
  }

  async deleteSource(actor: Actor, orgId: string, id: string): Promise<void> {
    this.#found(this.#deps.catalog.source(orgId, id), 'source');
    await this.#change(
      actor,
      'source',
      id,
      'delete',
      {},
      [{ kind: 'delete', entity: 'source', orgId, id }],
      orgId,
    );
  }

  // --- destinations ---

  async createDestination(actor: Actor, orgId: string, body: unknown): Promise<Destination> {
    const destination = destinationOf(orgId, parseInput(destinationSchema, body));
    await this.#change(
      actor,
      'destination',
      destination.id,
      'create',
      auditFields(destinationInput(destination)),
      [{ kind: 'create', entity: 'destination', value: destination }],
      orgId,
    );
    return this.#deps.catalog.destination(orgId, destination.id) ?? destination;
  }

  async updateDestination(actor: Actor, orgId: string, id: string, patch: unknown): Promise<Destination> {
    const current = this.#found(this.#deps.catalog.destination(orgId, id), 'destination');
    const before = destinationInput(current);
    const destination = destinationOf(orgId, mergePatch(destinationSchema, before, patch));
    await this.#change(
      actor,
      'destination',
      id,
      'update',
      changedFields(before, destinationInput(destination)),
      [{ kind: 'update', entity: 'destination', value: destination }],
      orgId,
    );
    return this.#deps.catalog.destination(orgId, id) ?? destination;
  }

  /** Refused while its queue holds pending logs, unless `force`: they fail, with who and why. */
  async deleteDestination(
    actor: Actor,
    orgId: string,
    id: string,
    force: boolean,
  ): Promise<{ failedLogs: number }> {
    this.#found(this.#deps.catalog.destination(orgId, id), 'destination');
    const forceReason = force ? `Destination deleted by ${actor.name}` : undefined;
    const result = await this.#change(
      actor,
      'destination',
      id,
      'delete',
      force ? { force: true } : {},
      [{ kind: 'delete', entity: 'destination', orgId, id, ...(forceReason ? { forceReason } : {}) }],
      orgId,
    );
    return { failedLogs: result.failedLogs ?? 0 };
  }

  // --- subscriptions ---

  async createSubscription(actor: Actor, orgId: string, body: unknown): Promise<Subscription> {
    const input = parseInput(subscriptionSchema, body);
    const subscription = subscriptionOf(orgId, input.id ?? `sub_${randomToken(9)}`, input);
    await this.#change(
      actor,
      'subscription',
      subscription.id,
      'create',
      auditFields(subscriptionInput(subscription)),
      [{ kind: 'create', entity: 'subscription', value: subscription }],
      orgId,
    );
    return this.#deps.catalog.subscription(orgId, subscription.id) ?? subscription;
  }

  async updateSubscription(actor: Actor, orgId: string, id: string, patch: unknown): Promise<Subscription> {
    const current = this.#found(this.#deps.catalog.subscription(orgId, id), 'subscription');
    const before = subscriptionInput(current);
    const subscription = subscriptionOf(orgId, id, mergePatch(subscriptionSchema, before, patch));
    await this.#change(
      actor,
      'subscription',
      id,
      'update',
      changedFields(before, subscriptionInput(subscription)),
      [{ kind: 'update', entity: 'subscription', value: subscription }],
      orgId,
    );
    return this.#deps.catalog.subscription(orgId, id) ?? subscription;
  }

  async deleteSubscription(actor: Actor, orgId: string, id: string): Promise<void> {
    this.#found(this.#deps.catalog.subscription(orgId, id), 'subscription');
    await this.#change(
      actor,
      'subscription',
      id,
      'delete',
      {},
      [{ kind: 'delete', entity: 'subscription', orgId, id }],
      orgId,
    );
  }

  // --- platform keys ---

  /** A new key, answered once; only its digest is stored. */
  async createPlatformKey(
    actor: Actor,
    orgId: string,
    body: unknown,
  ): Promise<{ id: string; name: string; key: string }> {
    const { name } = parseInput(platformKeySchema, body);
    const { key, value } = this.#newKey(orgId, name);
    await this.#change(
      actor,
      'platform-key',
      value.id,
      'create',
      { name },
      [{ kind: 'create', entity: 'platformKey', value }],
      orgId,
    );
    return { id: value.id, name, key };
  }

  async deletePlatformKey(actor: Actor, orgId: string, id: string): Promise<void> {
    const key = this.#found(
      this.#deps.catalog.platformKeysOf(orgId).find((k) => k.id === id),
      'platform-key',
    );
    await this.#change(
      actor,
      'platform-key',
      id,
      'delete',
      { name: key.name },
      [{ kind: 'delete', entity: 'platformKey', orgId, id }],
      orgId,
    );
  }

  #newKey(orgId: string, name: string): { key: string; value: PlatformKey } {
    const key = `sbk_${randomToken(32)}`;
    const value = {
      orgId,
      id: `pk_${randomToken(9)}`,
      name,
      keyDigest: digestKey(key),
      createdAt: this.#deps.clock.now(),
    };
    return { key, value };
  }

  #found<T>(value: T | undefined, resource: Resource): T {
    if (value === undefined) throw new ApiError('NOT_FOUND', `${LABEL[resource]} not found`);
    return value;
  }

  async #change(
    actor: Actor,
    resource: Resource,
    resourceId: string,
    action: string,
    changes: Record<string, unknown>,
    ops: CatalogOp[],
    orgId = resourceId,
  ): Promise<Extract<CatalogChangeResult, { ok: true }>> {
    const { store, refresher, clock } = this.#deps;
    const result = await store.changeCatalog({
      ops,
      audit: { orgId, at: clock.now(), actor: actor.name, action, resource, resourceId, changes },
    });
    if (!result.ok) throw refusal(result, LABEL[resource], resourceId, this.#deps.configFile);
    await refresher.seen(result.version);
    return result;
  }
}
