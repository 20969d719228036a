import type {
  CatalogSnapshot,
  Destination,
  Organization,
  PlatformKey,
  Source,
  Subscription,
} from '../models/entities.ts';

const key = (orgId: string, id: string): string => `${orgId}\u0000${id}`;

/**
 * The tenants, sources, destinations and subscriptions in memory, indexed for the hot paths
 * (token checks, routing, delivery). Built from the store's snapshot; `replace` swaps it whole.
 */
export class Catalog {
  #organizations = new Map<string, Organization>();
  #sourcesByClientId = new Map<string, Source>();
  #sources = new Map<string, Source>();
  #destinations = new Map<string, Destination>();
  #subscriptions = new Map<string, Subscription[]>();
  #platformKeys = new Map<string, PlatformKey>();
  #snapshot!: CatalogSnapshot;

  constructor(snapshot: CatalogSnapshot) {
    this.replace(snapshot);
  }

  replace(snapshot: CatalogSnapshot): void {
    this.#snapshot = snapshot;
    this.#organizations = new Map(snapshot.organizations.map((o) => [o.id, o]));
    this.#sources = new Map(snapshot.sources.map((s) => [key(s.orgId, s.id), s]));
    this.#sourcesByClientId = new Map(snapshot.sources.map((s) => [s.clientId, s]));
    this.#destinations = new Map(snapshot.destinations.map((d) => [key(d.orgId, d.id), d]));
    this.#platformKeys = new Map(snapshot.platformKeys.map((k) => [k.keyDigest, k]));
    const subscriptions = new Map<string, Subscription[]>();
    for (const s of snapshot.subscriptions) {
      const k = key(s.orgId, `${s.sourceId}\u0000${s.dataModel}`);
      subscriptions.set(k, [...(subscriptions.get(k) ?? []), s]);
    }
    this.#subscriptions = subscriptions;
  }

  organization(id: string): Organization | undefined {
    return this.#organizations.get(id);
  }

  sourceByClientId(clientId: string): Source | undefined {
    return this.#sourcesByClientId.get(clientId);
  }

  source(orgId: string, id: string): Source | undefined {
    return this.#sources.get(key(orgId, id));
  }

  destination(orgId: string, id: string): Destination | undefined {
    return this.#destinations.get(key(orgId, id));
  }

  destinationsOf(orgId: string): Destination[] {
    return [...this.#destinations.values()].filter((d) => d.orgId === orgId);
  }

  /** Every destination this source has a subscription to, whatever the data model. */
  subscribedDestinationIds(source: Source): string[] {
    const ids = new Set<string>();
    for (const list of this.#subscriptions.values())
      for (const s of list)
        if (s.orgId === source.orgId && s.sourceId === source.id) ids.add(s.destinationId);
    return [...ids];
  }

  orgIdForPlatformKey(digest: string): string | undefined {
    return this.#platformKeys.get(digest)?.orgId;
  }

  platformKey(digest: string): PlatformKey | undefined {
    return this.#platformKeys.get(digest);
  }

  /** Listings for the Platform API, in id order (subscriptions in the order they route). */
  organizations(): Organization[] {
    return this.#snapshot.organizations;
  }

  sourcesOf(orgId: string): Source[] {
    return this.#snapshot.sources.filter((s) => s.orgId === orgId);
  }

  subscriptionsOf(orgId: string): Subscription[] {
    return this.#snapshot.subscriptions.filter((s) => s.orgId === orgId);
  }

  subscription(orgId: string, id: string): Subscription | undefined {
    return this.#snapshot.subscriptions.find((s) => s.orgId === orgId && s.id === id);
  }

  platformKeysOf(orgId: string): PlatformKey[] {
    return this.#snapshot.platformKeys.filter((k) => k.orgId === orgId);
  }

  /** Destinations subscribed to this source's data model and event type, in configuration order. */
  subscribers(source: Source, dataModel: string, eventType: string): Destination[] {
    const subscriptions = this.#subscriptions.get(key(source.orgId, `${source.id}\u0000${dataModel}`)) ?? [];
    const seen = new Set<string>();
    const destinations: Destination[] = [];
    for (const s of subscriptions) {
      if (s.eventTypes && !s.eventTypes.includes(eventType)) continue;
      const destination = this.destination(source.orgId, s.destinationId);
      if (destination && !seen.has(destination.id)) {
        seen.add(destination.id);
        destinations.push(destination);
      }
    }
    return destinations;
  }
}
