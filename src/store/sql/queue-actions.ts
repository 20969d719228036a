import type { Log } from '../../models/log.ts';
import type { PauseInfo, SkipResult } from '../roles/operator-store.ts';
import type { Database, Executor } from './database.ts';
import { logById } from './log-detail.ts';
import { fromMark, JOIN_QUEUE, LEFT_QUEUE } from './log-columns.ts';

/**
 * Operators' actions on queues and logs (SPEC 5.4). They are rows in the database, so they act
 * on every instance: a paused queue is claimed by no one, and a runner holding it stops at its
 * next recorded attempt.
 */

export async function setQueuePaused(
  db: Database,
  orgId: string,
  destinationId: string,
  pause: PauseInfo | null,
): Promise<boolean> {
  const changed = await db.write(
    `UPDATE queues SET paused_by = :by, paused_reason = :reason, paused_at = :at
     WHERE org_id = :orgId AND destination_id = :destinationId`,
    { orgId, destinationId, by: pause?.by ?? null, reason: pause?.reason ?? null, at: pause?.at ?? null },
  );
  return changed === 1;
}

/** Fails the head log of a paused queue, with who and why, and moves the queue past it. */
export async function skipHead(
  db: Database,
  orgId: string,
  destinationId: string,
  pause: PauseInfo,
): Promise<SkipResult> {
  const result = await db.transaction(async (tx): Promise<SkipResult | { id: string }> => {
    const queue = await tx.get<{ paused_at: number | null; pending_from: number }>(
      `SELECT paused_at, pending_from FROM queues
       WHERE org_id = :orgId AND destination_id = :destinationId${db.dialect.forUpdate}`,
      { orgId, destinationId },
    );
    if (!queue) return { error: 'not_found' };
    if (queue.paused_at === null) return { error: 'not_paused' };
    const head = await tx.get<{ id: string; seq: number }>(
      `SELECT l.id, l.seq FROM ${fromMark('l.id, l.seq, l.status', undefined, true)} l
       WHERE l.status = 'pending' ORDER BY l.seq LIMIT 1`,
      { orgId, destinationId, from: Number(queue.pending_from) },
    );
    if (!head) return { error: 'empty' };
    await tx.run(
      `UPDATE logs SET status = 'failed', next_attempt_at = NULL, failed_reason = :reason, updated_at = :at
       WHERE id = :id`,
      {
        id: head.id,
        at: pause.at,
        reason: `Skipped by ${pause.by}${pause.reason ? `: ${pause.reason}` : ''}`,
      },
    );
    await tx.run(LEFT_QUEUE, { orgId, destinationId, seq: Number(head.seq) });
    return { id: head.id };
  });
  if ('error' in result || 'skipped' in result) return result;
  return { skipped: (await logById(db, orgId, result.id, pause.at))! };
}

/** A copy of the log, linked to it, at the back of its destination's queue. */
export async function retryLog(
  db: Database,
  orgId: string,
  logId: string,
  newLog: { id: string; firstAttemptId: string },
  now: number,
): Promise<Log | undefined> {
  const created = await db.transaction((tx) => copyLog(tx, orgId, { logId, ...newLog }, now));
  return created ? logById(db, orgId, newLog.id, now) : undefined;
}

/** Copies of the logs, in the order given, in one transaction; those with no destination are left out. */
export async function retryLogs(
  db: Database,
  orgId: string,
  retries: { logId: string; id: string; firstAttemptId: string }[],
  now: number,
): Promise<{ id: string; retryOf: string }[]> {
  return db.transaction(async (tx) => {
    const made: { id: string; retryOf: string }[] = [];
    for (const retry of retries)
      if (await copyLog(tx, orgId, retry, now)) made.push({ id: retry.id, retryOf: retry.logId });
    return made;
  });
}

/** Whether the log exists, with a destination, and was copied. */
async function copyLog(
  tx: Executor,
  orgId: string,
  retry: { logId: string; id: string; firstAttemptId: string },
  now: number,
): Promise<boolean> {
  const original = await tx.get<Record<string, string | number | boolean | null>>(
    `SELECT message_id, source_id, destination_id, data_model, event_type, test FROM logs
     WHERE id = :logId AND org_id = :orgId`,
    { logId: retry.logId, orgId },
  );
  if (!original || original.destination_id === null) return false;
  const destinationId = original.destination_id as string;
  const next = await tx.get<{ next_seq: number }>(JOIN_QUEUE, { orgId, destinationId });
  await tx.run(
    `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
       seq, status, next_attempt_id, next_attempt_at, retry_of, created_at, updated_at)
     VALUES (:id, :messageId, :orgId, 'send', :sourceId, :destinationId, :dataModel, :eventType, :test,
       :seq, 'pending', :firstAttemptId, :now, :retryOf, :now, :now)`,
    {
      id: retry.id,
      firstAttemptId: retry.firstAttemptId,
      messageId: original.message_id,
      orgId,
      sourceId: original.source_id,
      destinationId,
      dataModel: original.data_model,
      eventType: original.event_type,
      test: original.test,
      seq: Number(next!.next_seq),
      now,
      retryOf: retry.logId,
    },
  );
  return true;
}
