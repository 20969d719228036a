import type { Database } from './database.ts';
import type { DeliveryLog, KeyPick, QueueRef } from '../roles/queue-store.ts';
import type { Row } from './database.ts';
import { fromMark, HEAD_WINDOW, QUEUE_MARK, QUEUE_DUE, UNKEYED_PENDING } from './log-columns.ts';
import { KEY_HEAD_LOGS, readyKeys } from './queue-keys.ts';

/**
 * The delivery queries both stores run alike. Each is bounded by an index whatever the history:
 * an ordered walk of a few entries per queue from its `pending_from` mark (see log-columns.ts).
 */

/** The queue's unkeyed pending logs in sequence order, from its mark. */
export async function headLogs(db: Database, queue: QueueRef, limit: number): Promise<DeliveryLog[]> {
  const mark = await db.get<{ pending_from: number }>(QUEUE_MARK, { ...queue });
  if (!mark) return [];
  const logs = fromMark(
    'l.id, l.message_id, l.org_id, l.destination_id, l.data_model, l.ordering_key, l.seq, l.test, l.status, l.attempt_count, l.next_attempt_id, l.next_attempt_at',
    ':take',
    true,
  );
  const rows = await db.all(
    boundedBytes(
      db,
      `SELECT w.*, sum(octet_length(s.payload)) OVER (ORDER BY w.seq ROWS UNBOUNDED PRECEDING)
         - octet_length(s.payload) AS bytes_before
       FROM ${logs} w JOIN messages s ON s.id = w.message_id
       WHERE ${UNKEYED_PENDING} ORDER BY w.seq LIMIT :limit`,
    ),
    { ...queue, from: Number(mark.pending_from), take: limit + HEAD_WINDOW, limit, maxBytes: BATCH_BYTES },
  );
  return rows.map(toDeliveryLog);
}

/**
 * Payload bytes one read of head logs holds at most (its first log always comes, however big):
 * a batch of 32 large messages would otherwise put hundreds of MB in memory at once.
 */
export const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * The rows of `inner` (logs with `bytes_before`, the payload bytes of the rows before them),
 * cut where the payloads reach `:maxBytes`, with their messages. `octet_length` reads a
 * payload's size, not its text (SQLite's record header, PostgreSQL's TOAST header), so the
 * payloads left out are never read.
 */
function boundedBytes(db: Database, inner: string): string {
  return `SELECT b.*, m.received_at, ${db.dialect.payloadForDelivery('m.payload')} AS payload
    FROM (${inner}) b JOIN messages m ON m.id = b.message_id
    WHERE b.bytes_before < :maxBytes ORDER BY b.seq`;
}

/** The first `limit` pending logs of one of the queue's keys, from its head. */
export async function keyHeadLogs(
  db: Database,
  queue: QueueRef,
  key: string,
  limit: number,
): Promise<DeliveryLog[]> {
  return (
    await db.all(boundedBytes(db, KEY_HEAD_LOGS), { ...queue, key, limit, maxBytes: BATCH_BYTES / 8 })
  ).map(toDeliveryLog);
}

/** Ready keys of the queue (see `QueueStore.dueKeys`), with when each head is due. */
export async function dueKeys(
  db: Database,
  queue: QueueRef,
  owner: string,
  pick: KeyPick,
): Promise<{ key: string; dueAt: number }[]> {
  const rows = await db.all<{ key: string; head_due: number }>(readyKeys(db.dialect, pick.order), {
    ...queue,
    owner,
    limit: pick.limit,
    exclude: JSON.stringify(pick.exclude),
  });
  return rows.map((r) => ({ key: r.key, dueAt: Number(r.head_due) }));
}

export function toDeliveryLog(r: Row): DeliveryLog {
  return {
    id: r.id as string,
    messageId: Number(r.message_id),
    orgId: r.org_id as string,
    destinationId: r.destination_id as string,
    sequence: Number(r.seq),
    test: r.test === 1 || r.test === true,
    attemptCount: r.attempt_count as number,
    nextAttemptId: r.next_attempt_id as string,
    nextAttemptAt: Number(r.next_attempt_at),
    receivedAt: Number(r.received_at),
    payload: r.payload as string | Uint8Array,
    // A FHIR message goes out as it came in (SPEC 2.3).
    contentType: r.data_model === 'FHIR' ? 'application/fhir+json' : 'application/json',
    ...(typeof r.ordering_key === 'string' ? { orderingKey: r.ordering_key } : {}),
  };
}

export async function nextDueAt(db: Database, owner: string): Promise<number | null> {
  const row = await db.get<{ due: number | null }>(
    `SELECT min(CASE WHEN lease_owner IS NULL THEN head_due
                ELSE ${db.dialect.greatest('head_due', 'lease_expires_at')} END) AS due
     FROM (SELECT q.lease_owner, q.lease_expires_at, ${QUEUE_DUE} AS head_due FROM queues q
           WHERE q.paused_at IS NULL AND (q.lease_owner IS NULL OR q.lease_owner <> :owner)) s
     WHERE head_due IS NOT NULL`,
    { owner },
  );
  return row?.due == null ? null : Number(row.due);
}

/** Gives a queue back; true when this owner held it. */
export async function releaseQueue(db: Database, owner: string, queue: QueueRef): Promise<boolean> {
  const changed = await db.write(
    `UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL
     WHERE org_id = :orgId AND destination_id = :destinationId AND lease_owner = :owner`,
    { ...queue, owner },
  );
  return changed > 0;
}

/** Frees every lease of `owner`, or every lease at all; true when any was held. */
export async function releaseLeases(db: Database, owner?: string): Promise<boolean> {
  const changed =
    owner === undefined
      ? await db.write(
          'UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL',
        )
      : await db.write(
          'UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = :owner',
          { owner },
        );
  return changed > 0;
}
