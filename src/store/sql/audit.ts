import type { AuditEntry, StoredAuditEntry } from '../../models/audit.ts';
import { decodeCursor, encodeCursor } from '../rows.ts';
import type { Database, Executor } from './database.ts';

export async function insertAudit(tx: Executor, entry: AuditEntry): Promise<void> {
  await tx.run(
    `INSERT INTO audit (org_id, at, actor, action, resource, resource_id, changes)
     VALUES (:orgId, :at, :actor, :action, :resource, :resourceId, :changes)`,
    { ...entry, changes: JSON.stringify(entry.changes) },
  );
}

interface AuditRow {
  pk: number | bigint;
  org_id: string;
  at: number | bigint;
  actor: string;
  action: string;
  resource: string;
  resource_id: string;
  changes: string;
}

/** Newest first, one page, by the `audit_org` index whatever the trail's length. */
export async function listAudit(
  db: Database,
  orgId: string,
  page: { cursor?: string; limit: number },
): Promise<{ entries: StoredAuditEntry[]; nextCursor: string | null }> {
  const before = page.cursor === undefined ? undefined : (decodeCursor(page.cursor) ?? 0);
  const rows = await db.all<AuditRow>(
    `SELECT * FROM audit WHERE org_id = :orgId${before === undefined ? '' : ' AND pk < :before'}
     ORDER BY pk DESC LIMIT :limit`,
    { orgId, before: before ?? null, limit: page.limit + 1 },
  );
  const more = rows.length > page.limit;
  const shown = more ? rows.slice(0, page.limit) : rows;
  return {
    entries: shown.map((r) => ({
      id: encodeCursor(Number(r.pk)),
      orgId: r.org_id,
      at: Number(r.at),
      actor: r.actor,
      action: r.action,
      resource: r.resource,
      resourceId: r.resource_id,
      changes: JSON.parse(r.changes) as Record<string, unknown>,
    })),
    nextCursor: more ? encodeCursor(Number(shown.at(-1)!.pk)) : null,
  };
}
