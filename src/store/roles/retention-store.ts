/** Keeping the database from only growing. */
export interface RetentionStore {
  /**
   * Deletes up to `limit` logs that are done (not pending) and were both created and last
   * changed before `before`, with their attempts, then the messages no log refers to any more
   * (with their search keys); also alerts raised and audit entries written before `before`, and idempotency keys created
   * before `idempotencyBefore` (up to `limit` of each). The caller repeats while a count equals
   * `limit`.
   */
  purge(cut: PurgeCut): Promise<PurgeResult>;
}

export interface PurgeCut {
  /** Done logs created and last changed before this, and alerts raised before it, go. */
  before: number;
  idempotencyBefore: number;
  /** At most this many of each kind in one call. */
  limit: number;
}

export interface PurgeResult {
  logs: number;
  messages: number;
  alerts: number;
  idempotencyKeys: number;
  /** Audit entries: kept as long as logs. */
  audit: number;
}
