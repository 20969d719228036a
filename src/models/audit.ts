/** One operator action, as the audit trail keeps it (SPEC 6, `GET /platform/v1/audit`). */
export interface AuditEntry {
  orgId: string;
  at: number;
  /** The platform key's name, or `admin`. */
  actor: string;
  /** create, update, delete, rotate-secret, pause, resume, skip, retry, bulk-retry, ... */
  action: string;
  /** organization, source, destination, subscription, platform-key, queue, log */
  resource: string;
  resourceId: string;
  /** The fields changed or the action's parameters; secrets as "***". */
  changes: Record<string, unknown>;
}

export interface StoredAuditEntry extends AuditEntry {
  /** Opaque, ordered: the entry's place in the trail. */
  id: string;
}
