import type { BlockedKey, Log, QueueView } from '../../models/log.ts';
import type { QueueSummary } from '../roles/operator-store.ts';
import { toLog, type AttemptRow, type LogRow } from '../rows.ts';
import type { Database } from './database.ts';
import { fromMark, LOG_COLUMNS, LOG_FROM, UNKEYED_PENDING } from './log-columns.ts';
import { BLOCKED_KEYS, BLOCKED_SUMMARY, OLDEST_KEYED_SEQ } from './queue-keys.ts';

interface QueueRow {
  pending_from: number;
  pending_count: number;
  keyed_count: number;
  paused_by: string | null;
  paused_reason: string | null;
  paused_at: number | null;
}

/** Blocked keys listed in a queue's view. */
const BLOCKED_LISTED = 50;

/**
 * A queue as operators see it: its row (its depth is kept there), its head (the oldest pending
 * log: the unkeyed head, found from its mark, or the oldest key's head) and its blocked ordering
 * keys: a few index lookups, whatever the history or the backlog.
 */
export async function getQueue(
  db: Database,
  orgId: string,
  destinationId: string,
  now: number,
): Promise<QueueView | undefined> {
  const queue = await db.get<QueueRow>(
    `SELECT pending_from, pending_count, keyed_count, paused_by, paused_reason, paused_at FROM queues
     WHERE org_id = :orgId AND destination_id = :destinationId`,
    { orgId, destinationId },
  );
  if (!queue) return undefined;
  const ref = { orgId, destinationId };
  const unkeyed =
    Number(queue.pending_count) > Number(queue.keyed_count)
      ? await db.get<LogRow>(
          `SELECT ${LOG_COLUMNS} FROM ${fromMark('l.*', undefined, true)} l
             LEFT JOIN queues q ON q.org_id = l.org_id AND q.destination_id = l.destination_id
           WHERE l.status = 'pending' AND l.ordering_key IS NULL ORDER BY l.seq LIMIT 1`,
          { ...ref, from: queue.pending_from },
        )
      : undefined;
  const oldestKeyed =
    Number(queue.keyed_count) > 0 ? await db.get<{ head_seq: number }>(OLDEST_KEYED_SEQ, ref) : undefined;
  const keyedRow = oldestKeyed
    ? await logAt(db, orgId, destinationId, Number(oldestKeyed.head_seq))
    : undefined;
  const headRow =
    unkeyed && keyedRow
      ? Number(unkeyed.seq) < Number(keyedRow.seq)
        ? unkeyed
        : keyedRow
      : (unkeyed ?? keyedRow);
  const head = headRow ? toLog(headRow, now) : null;
  const blockedKeys = await blocked(db, orgId, destinationId, now);
  const pausedAt = queue.paused_at === null ? null : Number(queue.paused_at);
  const headBlocked = head !== null && head.orderingKey === undefined && head.attemptCount > 0;
  return {
    destinationId,
    state: pausedAt !== null ? 'paused' : headBlocked || blockedKeys.count > 0 ? 'blocked' : 'active',
    depth: Number(queue.pending_count),
    // Logs join a queue in the order they are created, so its head is its oldest.
    oldestQueuedAt: head ? head.createdAt : null,
    head,
    lastError: head ? await lastFailure(db, head) : null,
    paused: pausedAt !== null ? { by: queue.paused_by!, reason: queue.paused_reason, at: pausedAt } : null,
    blockedKeys,
  };
}

async function logAt(
  db: Database,
  orgId: string,
  destinationId: string,
  seq: number,
): Promise<LogRow | undefined> {
  return db.get<LogRow>(
    `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM}
     WHERE l.org_id = :orgId AND l.destination_id = :destinationId AND l.seq = :seq`,
    { orgId, destinationId, seq },
  );
}

async function lastFailure(db: Database, log: Log): Promise<QueueView['lastError']> {
  const row = await db.get<AttemptRow>(
    `SELECT * FROM attempts WHERE log_id = :id AND outcome = 'failed' ORDER BY number DESC LIMIT 1`,
    { id: log.id },
  );
  return row
    ? { attemptId: row.id, at: Number(row.started_at), statusCode: row.status_code, error: row.error }
    : null;
}

/** The queue's blocked keys: how many, since when, and the first 50 with their heads and last errors. */
async function blocked(
  db: Database,
  orgId: string,
  destinationId: string,
  now: number,
): Promise<QueueView['blockedKeys']> {
  const ref = { orgId, destinationId };
  const summary = await db.get<{ blocked: number; oldest: number | null }>(BLOCKED_SUMMARY, ref);
  const count = Number(summary?.blocked ?? 0);
  if (count === 0) return { count: 0, oldestBlockedAt: null, keys: [] };
  const rows = await db.all<{ key: string; pending_count: number; head_seq: number; blocked_since: number }>(
    BLOCKED_KEYS,
    { ...ref, limit: BLOCKED_LISTED },
  );
  const keys: BlockedKey[] = [];
  for (const row of rows) {
    const headRow = await logAt(db, orgId, destinationId, Number(row.head_seq));
    const head = headRow ? toLog(headRow, now) : null;
    keys.push({
      key: row.key,
      depth: Number(row.pending_count),
      blockedSince: Number(row.blocked_since),
      head,
      lastError: head ? await lastFailure(db, head) : null,
    });
  }
  return { count, oldestBlockedAt: summary?.oldest == null ? null : Number(summary.oldest), keys };
}

/**
 * Every queue with its state, depth, oldest queued log and blocked keys (metrics, the
 * dashboard's queue list): per queue its row, a walk of at most a window from its mark, the
 * first entry of its keys by age, and its blocked keys' index entries.
 */
export async function listQueues(db: Database, orgId?: string): Promise<QueueSummary[]> {
  const head = `(SELECT w.seq FROM ${fromMark('l.seq, l.status, l.ordering_key')} w WHERE ${UNKEYED_PENDING} ORDER BY w.seq LIMIT 1)`;
  const keyed = (what: string, where = ''): string =>
    `(SELECT ${what} FROM queue_keys k WHERE k.org_id = q.org_id AND k.destination_id = q.destination_id ${where})`;
  const rows = await db.all<{
    org_id: string;
    destination_id: string;
    pending_count: number;
    paused_at: number | null;
    created_at: number | null;
    attempt_count: number | null;
    keyed_created_at: number | null;
    blocked_keys: number;
    oldest_blocked: number | null;
  }>(
    `SELECT s.org_id, s.destination_id, s.pending_count, s.paused_at, h.created_at, h.attempt_count,
       kh.created_at AS keyed_created_at, s.blocked_keys, s.oldest_blocked
     FROM (SELECT q.org_id, q.destination_id, q.pending_count, q.paused_at,
             CASE WHEN q.pending_count > q.keyed_count THEN ${head} END AS head_seq,
             CASE WHEN q.keyed_count > 0 THEN ${keyed('k.head_seq', 'ORDER BY k.head_seq LIMIT 1')} END AS keyed_seq,
             ${keyed('count(*)', 'AND k.blocked_since IS NOT NULL')} AS blocked_keys,
             ${keyed('min(k.blocked_since)', 'AND k.blocked_since IS NOT NULL')} AS oldest_blocked
           FROM queues q
           -- A deleted destination keeps its queue row (its logs' sequence numbers go on from it).
           WHERE EXISTS (SELECT 1 FROM destinations d WHERE d.org_id = q.org_id AND d.id = q.destination_id)
           ${orgId === undefined ? '' : 'AND q.org_id = :orgId'}) s
     LEFT JOIN logs h ON h.org_id = s.org_id AND h.destination_id = s.destination_id AND h.seq = s.head_seq
     LEFT JOIN logs kh ON kh.org_id = s.org_id AND kh.destination_id = s.destination_id AND kh.seq = s.keyed_seq
     ORDER BY s.org_id, s.destination_id`,
    { orgId },
  );
  return rows.map((r) => {
    const blockedKeys = Number(r.blocked_keys);
    const oldest = [r.created_at, r.keyed_created_at].filter((t) => t !== null).map(Number);
    return {
      orgId: r.org_id,
      destinationId: r.destination_id,
      state:
        r.paused_at !== null
          ? 'paused'
          : (r.attempt_count ?? 0) > 0 || blockedKeys > 0
            ? 'blocked'
            : 'active',
      depth: Number(r.pending_count),
      oldestQueuedAt: oldest.length === 0 ? null : Math.min(...oldest),
      blockedKeys,
      oldestBlockedAt: r.oldest_blocked === null ? null : Number(r.oldest_blocked),
    };
  });
}
