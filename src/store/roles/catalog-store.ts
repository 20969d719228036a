import type { AuditEntry } from '../../models/audit.ts';
import type {
  CatalogSnapshot,
  Destination,
  Organization,
  PlatformKey,
  Source,
  Subscription,
} from '../../models/entities.ts';

/** Tenants and their configuration, and server-wide settings. */
export interface CatalogStore {
  /**
   * Writes the tenants the config file declares, as file-managed: upserts them, replaces the
   * file's keys and subscriptions of each organization, and hands to the API whatever the file
   * managed before and no longer declares.
   */
  syncCatalog(catalog: CatalogInput): Promise<void>;
  loadCatalog(): Promise<CatalogSnapshot>;
  /**
   * One change made through the Platform API, with its audit entry, in one transaction that
   * also bumps the catalog version. Refused, with nothing written, when it would overwrite the
   * config file's entities or break the catalog's rules.
   */
  changeCatalog(change: CatalogChange): Promise<CatalogChangeResult>;
  /** A number every catalog write increases: instances compare it to see others' changes. */
  catalogVersion(): Promise<number>;
  /** A server-wide setting: the stored value, or `candidate` stored now if there was none. */
  getOrCreateSetting(key: string, candidate: string): Promise<string>;
}

export interface CatalogInput {
  organizations: Organization[];
  sources: Source[];
  destinations: Destination[];
  subscriptions: Subscription[];
  platformKeys: PlatformKey[];
}

/** `create` refuses an existing id; `update` and `delete` a missing or file-managed one. */
export type CatalogOp =
  | { kind: 'create' | 'update'; entity: 'organization'; value: Organization }
  | { kind: 'create' | 'update'; entity: 'source'; value: Source }
  | { kind: 'create' | 'update'; entity: 'destination'; value: Destination }
  | { kind: 'create'; entity: 'subscription'; value: Subscription }
  | { kind: 'update'; entity: 'subscription'; value: Subscription }
  | { kind: 'create'; entity: 'platformKey'; value: PlatformKey }
  | {
      kind: 'delete';
      entity: CatalogEntity;
      orgId: string;
      id: string;
      /** Destinations only: fail their pending logs with this reason instead of refusing. */
      forceReason?: string;
    };

export type CatalogEntity = 'organization' | 'source' | 'destination' | 'subscription' | 'platformKey';

/** Applied in order, all or none (e.g. an organization with its first platform key). */
export interface CatalogChange {
  ops: CatalogOp[];
  audit: AuditEntry;
}

export type CatalogChangeResult =
  | { ok: true; version: number; failedLogs?: number }
  | {
      ok: false;
      reason:
        | 'exists'
        | 'missing'
        | 'file'
        | 'pending'
        | 'client_id_taken'
        | 'not_empty'
        | 'unknown_source'
        | 'unknown_destination'
        | 'duplicate_subscription';
      /** pending: how many logs; not_empty: what is left. */
      detail?: string;
    };
