import type { QueueView } from '../../models/log.ts';
import type { QueueSummary } from '../roles/operator-store.ts';
import { toLog, type AttemptRow, type LogRow } from '../rows.ts';
import type { Database } from './database.ts';
import { fromMark, LOG_COLUMNS } from './log-columns.ts';

interface QueueRow {
  pending_from: number;
  pending_count: number;
  paused_by: string | null;
  paused_reason: string | null;
  paused_at: number | null;
}

/**
 * A queue as operators see it: its row (its depth is kept there) and its head, found from its
 * mark: a few index lookups, whatever the history or the backlog.
 */
export async function getQueue(
  db: Database,
  orgId: string,
  destinationId: string,
  now: number,
): Promise<QueueView | undefined> {
  const queue = await db.get<QueueRow>(
    `SELECT pending_from, pending_count, paused_by, paused_reason, paused_at FROM queues
     WHERE org_id = :orgId AND destination_id = :destinationId`,
    { orgId, destinationId },
  );
  if (!queue) return undefined;
  const headRow = await db.get<LogRow>(
    `SELECT ${LOG_COLUMNS} FROM ${fromMark('l.*', undefined, true)} l
       LEFT JOIN queues q ON q.org_id = l.org_id AND q.destination_id = l.destination_id
     WHERE l.status = 'pending' ORDER BY l.seq LIMIT 1`,
    { orgId, destinationId, from: queue.pending_from },
  );
  const head = headRow ? toLog(headRow, now) : null;
  const lastFailure = head
    ? await db.get<AttemptRow>(
        `SELECT * FROM attempts WHERE log_id = :id AND outcome = 'failed' ORDER BY number DESC LIMIT 1`,
        { id: head.id },
      )
    : undefined;
  const pausedAt = queue.paused_at === null ? null : Number(queue.paused_at);
  return {
    destinationId,
    state: pausedAt !== null ? 'paused' : head && head.attemptCount > 0 ? 'blocked' : 'active',
    depth: Number(queue.pending_count),
    // Logs join a queue in the order they are created, so its head is its oldest.
    oldestQueuedAt: head ? head.createdAt : null,
    head,
    lastError: lastFailure
      ? {
          attemptId: lastFailure.id,
          at: Number(lastFailure.started_at),
          statusCode: lastFailure.status_code,
          error: lastFailure.error,
        }
      : null,
    paused: pausedAt !== null ? { by: queue.paused_by!, reason: queue.paused_reason, at: pausedAt } : null,
  };
}

/**
 * Every queue with its state, depth and oldest queued log (metrics, the dashboard's queue
 * list): per queue its row, a walk of at most a window from its mark, and one index lookup.
 */
export async function listQueues(db: Database, orgId?: string): Promise<QueueSummary[]> {
  const head = `(SELECT w.seq FROM ${fromMark('l.seq, l.status')} w WHERE w.status = 'pending' ORDER BY w.seq LIMIT 1)`;
  const rows = await db.all<{
    org_id: string;
    destination_id: string;
    pending_count: number;
    paused_at: number | null;
    created_at: number | null;
    attempt_count: number | null;
  }>(
    `SELECT s.org_id, s.destination_id, s.pending_count, s.paused_at, h.created_at, h.attempt_count
     FROM (SELECT q.org_id, q.destination_id, q.pending_count, q.paused_at, ${head} AS head_seq FROM queues q
           -- A deleted destination keeps its queue row (its logs' sequence numbers go on from it).
           WHERE EXISTS (SELECT 1 FROM destinations d WHERE d.org_id = q.org_id AND d.id = q.destination_id)
           ${orgId === undefined ? '' : 'AND q.org_id = :orgId'}) s
     LEFT JOIN logs h ON h.org_id = s.org_id AND h.destination_id = s.destination_id AND h.seq = s.head_seq
     ORDER BY s.org_id, s.destination_id`,
    { orgId },
  );
  return rows.map((r) => ({
    orgId: r.org_id,
    destinationId: r.destination_id,
    state: r.paused_at !== null ? 'paused' : (r.attempt_count ?? 0) > 0 ? 'blocked' : 'active',
    depth: Number(r.pending_count),
    oldestQueuedAt: r.created_at === null ? null : Number(r.created_at),
  }));
}
