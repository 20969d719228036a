/**
 * SQL fragments several operations share. A queue's head is found from its `pending_from` mark
 * (no pending log of the queue has a lower seq), never by walking the queue's delivered history.
 *
 * The head is read as the first pending log among the first `HEAD_WINDOW` logs from the mark, in
 * index order (`logs_queue (org_id, destination_id, seq)`): an ordered walk that stops after at
 * most that many entries, whatever the planner estimates. (Asked for "the first pending log with
 * seq >= the mark", PostgreSQL, which sees that few logs are pending, may read every log above
 * the mark and sort them: a whole backlog per poll.) With strict FIFO only a queue's head ever
 * leaves `pending`, and the mark moves past it in the same transaction, so the head is the first
 * log of the window; the window's slack only covers logs done out of order.
 */
export const HEAD_WINDOW = 64;

/**
 * Up to `take` logs `l` of queue `q` (or of the queue named by `:orgId`, `:destinationId` from
 * mark `:from`, with `constant`), in sequence order, with `columns`: a derived table to filter
 * on `status = 'pending'`.
 */
export function fromMark(columns: string, take: string | number = HEAD_WINDOW, constant = false): string {
  const queue = constant
    ? 'l.org_id = :orgId AND l.destination_id = :destinationId AND l.seq >= :from'
    : 'l.org_id = q.org_id AND l.destination_id = q.destination_id AND l.seq >= q.pending_from';
  return `(SELECT ${columns} FROM logs l WHERE ${queue} ORDER BY l.seq LIMIT ${take})`;
}

/** Of the window's logs, those pending and unkeyed (delivered strictly in sequence order). */
export const UNKEYED_PENDING = "w.status = 'pending' AND w.ordering_key IS NULL";

/** When the unkeyed head log of queue `q` is due; NULL when it has none. */
export const HEAD_DUE = `(SELECT w.next_attempt_at FROM ${fromMark('l.seq, l.status, l.ordering_key, l.next_attempt_at')} w
  WHERE ${UNKEYED_PENDING} ORDER BY w.seq LIMIT 1)`;

/** When the first due of queue `q`'s keys is due (the `queue_keys_due` index's first entry). */
const KEYS_DUE = `(SELECT k.head_due FROM queue_keys k
  WHERE k.org_id = q.org_id AND k.destination_id = q.destination_id ORDER BY k.head_due, k.head_seq LIMIT 1)`;

/** When the head of queue `q`'s oldest key is due (`queue_keys_oldest`): strict FIFO's next log. */
const OLDEST_KEY_DUE = `(SELECT k.head_due FROM queue_keys k
  WHERE k.org_id = q.org_id AND k.destination_id = q.destination_id ORDER BY k.head_seq LIMIT 1)`;

/** When queue `q`'s keyed work is due: its first due key, or with `maxInFlight` 1 its oldest key. */
const KEYED_DUE = `(CASE WHEN (SELECT d.max_in_flight FROM destinations d
    WHERE d.org_id = q.org_id AND d.id = q.destination_id) > 1 THEN ${KEYS_DUE} ELSE ${OLDEST_KEY_DUE} END)`;

/**
 * When queue `q`'s next log is due, as its runner takes them (dispatcher.ts); NULL when it is
 * empty. Unkeyed logs go first, strictly in order, and a waiting unkeyed head holds the queue;
 * keyed logs then go as `KEYED_DUE` says. Each part is asked only when the queue has such logs
 * (`keyed_count`), so a keyed queue does not walk the stale unkeyed mark, and an empty queue
 * reads nothing.
 */
export const QUEUE_DUE = `(CASE WHEN q.pending_count = 0 THEN NULL
    WHEN q.keyed_count = 0 THEN ${HEAD_DUE}
    WHEN q.pending_count > q.keyed_count THEN coalesce(${HEAD_DUE}, ${KEYED_DUE})
    ELSE ${KEYED_DUE} END)`;

/** The columns `rows.ts` maps to a `Log` (logs `l` joined to their queue `q`), with what deriving its state needs. */
export const LOG_COLUMNS = `l.pk, l.id, l.message_id, l.org_id, l.type, l.source_id, l.destination_id,
  l.data_model, l.event_type, l.test, l.seq, l.status, l.attempt_count, l.next_attempt_at, l.retry_of,
  l.failed_reason, l.ordering_key, l.created_at, l.updated_at, q.lease_owner, q.lease_expires_at,
  CASE WHEN l.status = 'pending' AND l.ordering_key IS NULL THEN
    (SELECT w.seq FROM ${fromMark('l.seq, l.status, l.ordering_key')} w WHERE ${UNKEYED_PENDING} ORDER BY w.seq LIMIT 1)
  WHEN l.status = 'pending' THEN
    (SELECT k.head_seq FROM queue_keys k
     WHERE k.org_id = l.org_id AND k.destination_id = l.destination_id AND k.key = l.ordering_key)
  END AS head_seq`;

export const LOG_FROM = `logs l LEFT JOIN queues q ON q.org_id = l.org_id AND q.destination_id = l.destination_id`;

/**
 * After the unkeyed log with seq `:seq` of a queue left `pending`: one log fewer in the queue,
 * and its `pending_from` moves past the log when no unkeyed pending log is left below it (always
 * so for the head, the only log that normally leaves). `pending_from` stays a lower bound
 * otherwise, and catches up at the next head. (A keyed log leaves through `KEYED_LEFT_QUEUE`.)
 */
export const LEFT_QUEUE = `UPDATE queues SET pending_count = pending_count - 1,
    pending_from = CASE WHEN pending_from <= :seq AND ${noPendingBelow('queues', ':seq')}
      THEN :seq + 1 ELSE pending_from END
  WHERE org_id = :orgId AND destination_id = :destinationId`;

/**
 * Whether no pending log of queue `queue` lies from its mark up to (not including) seq `seq`.
 * Asked as "the first such log, in seq order", so that the planner walks `logs_queue` over that
 * range (asked with EXISTS, PostgreSQL's generic plan walked another index over the whole
 * organization's history).
 */
export function noPendingBelow(queue: string, seq: string): string {
  return `(SELECT p.seq FROM logs p WHERE p.org_id = ${queue}.org_id AND p.destination_id = ${queue}.destination_id
      AND p.seq >= ${queue}.pending_from AND p.seq < ${seq} AND p.status = 'pending' AND p.ordering_key IS NULL
      ORDER BY p.seq LIMIT 1) IS NULL`;
}

/**
 * A pending unkeyed log joins the back of a destination's queue (creating the queue row if need
 * be): the queue's next sequence number, and one more in its depth. When it is the only unkeyed
 * pending log, the mark starts at it (keyed logs below it never move the mark).
 */
export const JOIN_QUEUE = `INSERT INTO queues (org_id, destination_id, next_seq, pending_count)
  VALUES (:orgId, :destinationId, 1, 1)
  ON CONFLICT (org_id, destination_id)
  DO UPDATE SET next_seq = queues.next_seq + 1, pending_count = queues.pending_count + 1,
    pending_from = CASE WHEN queues.pending_count <= queues.keyed_count THEN queues.next_seq + 1
      ELSE queues.pending_from END
  RETURNING next_seq`;

/** A pending keyed log joins the back of its destination's queue; then its key (`KEY_JOIN`). */
export const JOIN_KEYED_QUEUE = `INSERT INTO queues (org_id, destination_id, next_seq, pending_count, keyed_count)
  VALUES (:orgId, :destinationId, 1, 1, 1)
  ON CONFLICT (org_id, destination_id)
  DO UPDATE SET next_seq = queues.next_seq + 1, pending_count = queues.pending_count + 1,
    keyed_count = queues.keyed_count + 1
  RETURNING next_seq`;

/** After a keyed log left `pending`: one fewer in the queue; its key moves on (`KEY_LEFT`). */
export const KEYED_LEFT_QUEUE = `UPDATE queues SET pending_count = pending_count - 1, keyed_count = keyed_count - 1
  WHERE org_id = :orgId AND destination_id = :destinationId`;

/** A queue's mark, for the constant form of `fromMark`. */
export const QUEUE_MARK =
  'SELECT pending_from FROM queues WHERE org_id = :orgId AND destination_id = :destinationId';
