import type { Dialect } from './dialect.ts';
import { KEYED_LEFT_QUEUE } from './log-columns.ts';

/**
 * SQL of ordering keys (SPEC 5.2) both stores run alike: a keyed destination's pending logs are
 * grouped by key in `queue_keys` (migration 10), one row per key with pending logs. Every
 * statement here is a lookup by the key's primary key or an ordered walk of one destination's
 * entries in `queue_keys_due` (the backlog's keys only) or a walk of one key's logs in `logs_key`
 * from its head (logs leave a key in order, so its head's successors come first): nothing walks a
 * blocked key's logs or the delivered history.
 */

/** A pending keyed log (seq `:seq`, due `:due`) joins its key, which starts at it when new. */
export const KEY_JOIN = `INSERT INTO queue_keys (org_id, destination_id, key, pending_count, head_seq, head_due)
  VALUES (:orgId, :destinationId, :key, 1, :seq, :due)
  ON CONFLICT (org_id, destination_id, key) DO UPDATE SET pending_count = queue_keys.pending_count + 1`;

/** The key's first pending log after seq `:seq` (a walk of `logs_key` from it), column `column`. */
function keyHeadAfter(column: string): string {
  return `(SELECT p.${column} FROM logs p WHERE p.org_id = queue_keys.org_id
    AND p.destination_id = queue_keys.destination_id AND p.ordering_key = queue_keys.key
    AND p.status = 'pending' AND p.seq > :seq ORDER BY p.seq LIMIT 1)`;
}

/**
 * After key `:key`'s head (seq `:seq`) left `pending`, in the same transaction: one fewer, no
 * longer blocked, and its head moves to its next pending log. Then `KEY_DROP_EMPTY`.
 */
export const KEY_LEFT = `UPDATE queue_keys SET pending_count = pending_count - 1, blocked_since = NULL,
    head_seq = coalesce(${keyHeadAfter('seq')}, head_seq),
    head_due = coalesce(${keyHeadAfter('next_attempt_at')}, head_due)
  WHERE org_id = :orgId AND destination_id = :destinationId AND key = :key`;

/** A key with no pending log left has no row (the table holds the backlog's keys only). */
export const KEY_DROP_EMPTY = `DELETE FROM queue_keys
  WHERE org_id = :orgId AND destination_id = :destinationId AND key = :key AND pending_count <= 0`;

/**
 * Everything a keyed log (seq `:seq`, key `:key`) leaving `pending` changes, in order, after the
 * log's own update: the queue's depth and keyed count, the key's head, and an emptied key's row.
 */
export const KEYED_LOG_LEFT = [KEYED_LEFT_QUEUE, KEY_LEFT, KEY_DROP_EMPTY] as const;

/** Key `:key`'s head failed and is retried at `:due`: the key is blocked (since `:now`, if not already). */
export const KEY_RETRY = `UPDATE queue_keys SET head_due = :due, blocked_since = coalesce(blocked_since, :now)
  WHERE org_id = :orgId AND destination_id = :destinationId AND key = :key`;

/**
 * Up to `:limit` keys of the queue, leaving out `:exclude` (a JSON array: the keys in flight),
 * with when each head is due, while `:owner` holds the queue's lease and it is not paused (so a
 * runner that lost its lease, or whose queue was paused, starts no more keys): in due order (an
 * ordered walk of `queue_keys_due` that passes over at most the excluded keys), or oldest head
 * first (`queue_keys_oldest`, strict FIFO).
 */
export function readyKeys(dialect: Dialect, order: 'due' | 'oldest'): string {
  return `SELECT key, head_due FROM queue_keys
    WHERE org_id = :orgId AND destination_id = :destinationId AND key NOT IN ${dialect.jsonTexts(':exclude')}
      AND EXISTS (SELECT 1 FROM queues q WHERE q.org_id = :orgId AND q.destination_id = :destinationId
        AND q.lease_owner = :owner AND q.paused_at IS NULL)
    ORDER BY ${order === 'due' ? 'head_due, head_seq' : 'head_seq'} LIMIT :limit`;
}

/**
 * Key `:key`'s first `:limit` pending logs from its head, with their messages: a walk of
 * `logs_key` from the head's seq, so the key's delivered history is not walked over (and a key
 * with no row, emptied meanwhile, has none).
 */
export const KEY_HEAD_LOGS = `SELECT x.*,
    sum(octet_length(s.payload)) OVER (ORDER BY x.seq ROWS UNBOUNDED PRECEDING) - octet_length(s.payload) AS bytes_before
  FROM (SELECT l.id, l.message_id, l.org_id, l.destination_id, l.data_model, l.ordering_key, l.seq, l.test,
      l.status, l.attempt_count, l.next_attempt_id, l.next_attempt_at
    FROM logs l
    WHERE l.org_id = :orgId AND l.destination_id = :destinationId AND l.ordering_key = :key AND l.status = 'pending'
      AND l.seq >= (SELECT k.head_seq FROM queue_keys k
        WHERE k.org_id = :orgId AND k.destination_id = :destinationId AND k.key = :key)
    ORDER BY l.seq LIMIT :limit) x
  JOIN messages s ON s.id = x.message_id`;

/** The queue's blocked keys, longest blocked first (`queue_keys_blocked`). */
export const BLOCKED_KEYS = `SELECT key, pending_count, head_seq, blocked_since FROM queue_keys
  WHERE org_id = :orgId AND destination_id = :destinationId AND blocked_since IS NOT NULL
  ORDER BY blocked_since, key LIMIT :limit`;

/** How many of the queue's keys are blocked, and since when the longest (`queue_keys_blocked`). */
export const BLOCKED_SUMMARY = `SELECT count(*) AS blocked, min(blocked_since) AS oldest FROM queue_keys
  WHERE org_id = :orgId AND destination_id = :destinationId AND blocked_since IS NOT NULL`;

/** The queue's oldest keyed pending log's seq (`queue_keys_oldest`). */
export const OLDEST_KEYED_SEQ = `SELECT head_seq FROM queue_keys
  WHERE org_id = :orgId AND destination_id = :destinationId ORDER BY head_seq LIMIT 1`;
