/** What the rest of Switchboard may assume about a store, as flags rather than `if (sqlite)`. */
export interface StoreCapabilities {
  /** Several processes share this store (PostgreSQL); the embedded store has exactly one. */
  multipleWriters: boolean;
  /** Claims can skip rows another transaction holds (`FOR UPDATE SKIP LOCKED`). */
  skipLocked: boolean;
  /** Other processes' new work is announced (`LISTEN/NOTIFY`); see `StoreLifecycle.onWork`. */
  listenNotify: boolean;
}

/** Opening, migrating, checking and closing a store: the composition root's role. */
export interface StoreLifecycle {
  readonly capabilities: StoreCapabilities;
  /**
   * Applies the numbered migrations the database lacks. Refuses (throws `SchemaTooNewError`)
   * when the database has migrations this code does not know: an older release must not write
   * to a schema a newer one has changed.
   */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Throws when the storage cannot be reached (readiness). */
  ping(): Promise<void>;
  /** A small durable write (a settings row): throws when the storage refuses writes (readiness). */
  probeWrite(): Promise<void>;
  /**
   * Throws (`StoreUnavailableError`, with why) while the store refuses new messages for lack of
   * disk space: the embedded store's disk guard (readiness). Resolves at once where there is none.
   */
  checkSpace(): Promise<void>;
  /**
   * Shared stores only: calls `listener` when another process may have stored work this one
   * could deliver (new messages, a resumed queue, a released lease). Returns an unsubscribe.
   */
  onWork?(listener: () => void): () => void;
  /** Shared stores only: calls `listener` when another process may have changed the catalog. */
  onCatalogChange?(listener: () => void): () => void;
  /**
   * Shared stores only: runs `work` while no other process runs its own start-up `work` (e.g.
   * instances starting together sync the configured catalog one after the other, so they agree
   * on its client secret hashes).
   */
  exclusive?<T>(work: () => Promise<T>): Promise<T>;
}
