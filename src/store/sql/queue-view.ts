import type { QueueView } from '../../models/log.ts';
import { toLog, type AttemptRow, type LogRow } from '../rows.ts';
import type { Database } from './database.ts';
import { PENDING_OF_QUEUE, LOG_COLUMNS, LOG_FROM } from './log-columns.ts';

interface QueueRow {
  pending_from: number;
  paused_by: string | null;
  paused_reason: string | null;
  paused_at: number | null;
}

/**
 * A queue as operators see it. Its depth and oldest log count the pending logs only, from the
 * queue's `pending_from` mark: the cost follows the backlog, never the delivered history.
 */
export async function getQueue(
  db: Database,
  orgId: string,
  destinationId: string,
  now: number,
): Promise<QueueView | undefined> {
  const queue = await db.get<QueueRow>(
    `SELECT pending_from, paused_by, paused_reason, paused_at FROM queues
     WHERE org_id = :orgId AND destination_id = :destinationId`,
    { orgId, destinationId },
  );
  if (!queue) return undefined;
  const [stats, headRow] = await Promise.all([
    db.get<{ depth: number; oldest: number | null }>(
      `SELECT count(*) AS depth, min(created_at) AS oldest FROM logs
       WHERE org_id = :orgId AND destination_id = :destinationId AND seq >= :from AND status = 'pending'`,
      { orgId, destinationId, from: queue.pending_from },
    ),
    db.get<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM}
       WHERE q.org_id = :orgId AND q.destination_id = :destinationId AND ${PENDING_OF_QUEUE}
       ORDER BY l.seq LIMIT 1`,
      { orgId, destinationId },
    ),
  ]);
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
    depth: Number(stats?.depth ?? 0),
    oldestQueuedAt: stats?.oldest == null ? null : Number(stats.oldest),
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
