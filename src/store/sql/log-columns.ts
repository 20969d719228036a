/**
 * SQL fragments several operations share. A queue's head is found from its `pending_from` mark
 * (no pending log of the queue has a lower seq) with one seek on `logs_queue (org_id,
 * destination_id, seq)`, never by walking the queue's delivered history.
 */

/** The columns `rows.ts` maps to a `Log`, with what deriving its state needs. */
export const LOG_COLUMNS = `l.pk, l.id, l.message_id, l.org_id, l.type, l.source_id, l.destination_id,
  l.data_model, l.event_type, l.test, l.seq, l.status, l.attempt_count, l.next_attempt_at, l.retry_of,
  l.failed_reason, l.created_at, l.updated_at, q.lease_owner, q.lease_expires_at,
  CASE WHEN l.status = 'pending' THEN
    (SELECT h.seq FROM logs h WHERE h.org_id = l.org_id AND h.destination_id = l.destination_id
       AND h.seq >= q.pending_from AND h.status = 'pending' ORDER BY h.seq LIMIT 1) END AS head_seq`;

export const LOG_FROM = `logs l LEFT JOIN queues q ON q.org_id = l.org_id AND q.destination_id = l.destination_id`;

/** The pending logs `l` of queue `q`, from its mark; `ORDER BY l.seq LIMIT 1` gives its head. */
export const PENDING_OF_QUEUE = `l.org_id = q.org_id AND l.destination_id = q.destination_id
  AND l.seq >= q.pending_from AND l.status = 'pending'`;

/** When the head log of queue `q` is due; NULL when the queue is empty. */
export const HEAD_DUE = `(SELECT l.next_attempt_at FROM logs l WHERE ${PENDING_OF_QUEUE} ORDER BY l.seq LIMIT 1)`;

/**
 * After the log with seq `:seq` of a queue left `pending`: moves the queue's `pending_from` past
 * it when no pending log is left below it (always so for the head, the only log that normally
 * leaves). `pending_from` stays a lower bound otherwise, and catches up at the next head.
 */
export const ADVANCE_PENDING_FROM = `UPDATE queues SET pending_from = :seq + 1
  WHERE org_id = :orgId AND destination_id = :destinationId AND pending_from <= :seq
    AND NOT EXISTS (SELECT 1 FROM logs p WHERE p.org_id = queues.org_id
      AND p.destination_id = queues.destination_id AND p.seq >= queues.pending_from AND p.seq < :seq
      AND p.status = 'pending')`;

/** The next sequence number of a destination's queue (creating the queue row if need be). */
export const NEXT_SEQ = `INSERT INTO queues (org_id, destination_id, next_seq) VALUES (:orgId, :destinationId, 1)
  ON CONFLICT (org_id, destination_id) DO UPDATE SET next_seq = queues.next_seq + 1 RETURNING next_seq`;
