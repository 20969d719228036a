import type { PurgeCut, PurgeResult, RetentionStore } from '../roles/retention-store.ts';
import type { Database, SqlValue } from './database.ts';

/**
 * Retention, in bounded transactions. Several PostgreSQL instances purging at once take
 * disjoint rows (`FOR UPDATE SKIP LOCKED`). A message (and its search keys) goes in a second
 * transaction, once the logs' one has committed, so its NOT EXISTS sees every log that still
 * refers to it: a manual retry made meanwhile keeps it.
 */
export class SqlRetentionStore implements RetentionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async purge({ before, idempotencyBefore, limit }: PurgeCut): Promise<PurgeResult> {
    const db = this.#db;
    const skipLocked = db.dialect.forUpdateSkipLocked;
    const doomed = await db.transaction(async (tx) => {
      const logs = await tx.all<{ pk: number; id: string; message_id: number }>(
        `SELECT pk, id, message_id FROM logs
         WHERE status <> 'pending' AND created_at < :before AND updated_at < :before
         ORDER BY pk LIMIT :limit${skipLocked}`,
        { before, limit },
      );
      if (logs.length === 0) return logs;
      const ids = inList(
        'i',
        logs.map((l) => l.id),
      );
      await tx.run(`DELETE FROM attempts WHERE log_id IN ${ids.sql}`, ids.params);
      const pks = inList(
        'p',
        logs.map((l) => Number(l.pk)),
      );
      await tx.run(`DELETE FROM logs WHERE pk IN ${pks.sql}`, pks.params);
      return logs;
    });
    let messages = 0;
    const messageIds = [...new Set(doomed.map((l) => Number(l.message_id)))];
    if (messageIds.length > 0) {
      const ids = inList('m', messageIds);
      messages = await db.transaction(async (tx) => {
        await tx.run(
          `DELETE FROM search_keys WHERE message_id IN ${ids.sql}
             AND NOT EXISTS (SELECT 1 FROM logs WHERE logs.message_id = search_keys.message_id)`,
          ids.params,
        );
        return tx.run(
          `DELETE FROM messages WHERE id IN ${ids.sql}
             AND NOT EXISTS (SELECT 1 FROM logs WHERE logs.message_id = messages.id)`,
          ids.params,
        );
      });
    }
    const alerts = await db.write(
      `DELETE FROM alerts WHERE pk IN
         (SELECT pk FROM alerts WHERE created_at < :before ORDER BY pk LIMIT :limit${skipLocked})`,
      { before, limit },
    );
    const idempotencyKeys = await db.write(
      `DELETE FROM idempotency_keys WHERE (org_id, source_id, key) IN
         (SELECT org_id, source_id, key FROM idempotency_keys WHERE created_at < :idempotencyBefore
          LIMIT :limit${skipLocked})`,
      { idempotencyBefore, limit },
    );
    const audit = await db.write(
      `DELETE FROM audit WHERE pk IN
         (SELECT pk FROM audit WHERE at < :before ORDER BY at LIMIT :limit${skipLocked})`,
      { before, limit },
    );
    return { logs: doomed.length, messages, alerts, idempotencyKeys, audit };
  }
}

/** `(:i0, :i1, ...)` and its parameters: a list in SQL both dialects read the same way. */
function inList(prefix: string, values: SqlValue[]): { sql: string; params: Record<string, SqlValue> } {
  const params: Record<string, SqlValue> = {};
  const names = values.map((value, i) => {
    params[`${prefix}${i}`] = value;
    return `:${prefix}${i}`;
  });
  return { sql: `(${names.join(', ')})`, params };
}
