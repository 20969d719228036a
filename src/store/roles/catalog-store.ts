import type {
  CatalogSnapshot,
  Destination,
  Organization,
  Source,
  Subscription,
} from '../../models/entities.ts';

/** Tenants and their configuration, and server-wide settings. */
export interface CatalogStore {
  /** Writes the configured tenants: upserts, and replaces each organization's keys and subscriptions. */
  syncCatalog(catalog: CatalogInput): Promise<void>;
  loadCatalog(): Promise<CatalogSnapshot>;
  /** A server-wide setting: the stored value, or `candidate` stored now if there was none. */
  getOrCreateSetting(key: string, candidate: string): Promise<string>;
}

export interface CatalogInput {
  organizations: Organization[];
  sources: Source[];
  destinations: Destination[];
  subscriptions: Subscription[];
  platformKeys: { orgId: string; keyDigest: string }[];
}
