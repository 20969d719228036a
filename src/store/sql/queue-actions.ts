import type { Log } from '../../models/log.ts';
import type { PauseInfo, SkipResult } from '../roles/operator-store.ts';
import type { Database, Executor } from './database.ts';
import { logById } from './log-detail.ts';
import { fromMark, JOIN_KEYED_QUEUE, JOIN_QUEUE, LEFT_QUEUE, UNKEYED_PENDING } from './log-columns.ts';
import { KEY_JOIN, KEYED_LOG_LEFT } from './queue-keys.ts';

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

/**
 * Fails the head log of a paused queue, with who and why, and moves the queue past it. With
 * `key` (ordering keys), the head of that key, when the queue is paused or the key blocked.
 */
export async function skipHead(
  db: Database,
  orgId: string,
  destinationId: string,
  pause: PauseInfo,
  key?: string,
): Promise<SkipResult> {
  const result = await db.transaction(async (tx): Promise<SkipResult | { id: string }> => {
    const queue = await tx.get<{ paused_at: number | null; pending_from: number }>(
      `SELECT paused_at, pending_from FROM queues
       WHERE org_id = :orgId AND destination_id = :destinationId${db.dialect.forUpdate}`,
      { orgId, destinationId },
    );
    if (!queue) return { error: 'not_found' };
    const head =
      key === undefined
        ? await tx.get<{ id: string; seq: number }>(
            `SELECT w.id, w.seq FROM ${fromMark('l.id, l.seq, l.status, l.ordering_key', undefined, true)} w
             WHERE ${UNKEYED_PENDING} ORDER BY w.seq LIMIT 1`,
            { orgId, destinationId, from: Number(queue.pending_from) },
          )
        : await keyHead(tx, orgId, destinationId, key);
    if (queue.paused_at === null && !(head && 'blocked' in head && head.blocked))
      return { error: 'not_paused' };
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
    if (key === undefined) await tx.run(LEFT_QUEUE, { orgId, destinationId, seq: Number(head.seq) });
    else {
      for (const sql of KEYED_LOG_LEFT)
        await tx.run(sql, { orgId, destinationId, key, seq: Number(head.seq) });
    }
    return { id: head.id };
  });
  if ('error' in result || 'skipped' in result) return result;
  return { skipped: (await logById(db, orgId, result.id, pause.at))! };
}

/** A key's head log, and whether the key is blocked (its head failed and waits for a retry). */
async function keyHead(
  tx: Executor,
  orgId: string,
  destinationId: string,
  key: string,
): Promise<{ id: string; seq: number; blocked: boolean } | undefined> {
  const row = await tx.get<{ id: string; seq: number; blocked_since: number | null }>(
    `SELECT l.id, l.seq, k.blocked_since FROM queue_keys k JOIN logs l ON l.org_id = k.org_id
       AND l.destination_id = k.destination_id AND l.seq = k.head_seq
     WHERE k.org_id = :orgId AND k.destination_id = :destinationId AND k.key = :key`,
    { orgId, destinationId, key },
  );
  return row && { id: row.id, seq: Number(row.seq), blocked: row.blocked_since !== null };
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
    `SELECT message_id, source_id, destination_id, data_model, event_type, test, ordering_key FROM logs
     WHERE id = :logId AND org_id = :orgId`,
    { logId: retry.logId, orgId },
  );
  if (!original || original.destination_id === null) return false;
  const destinationId = original.destination_id as string;
  // The copy keeps the original's ordering key, and goes to the back of that key.
  const key = typeof original.ordering_key === 'string' ? original.ordering_key : null;
  const next = await tx.get<{ next_seq: number }>(key === null ? JOIN_QUEUE : JOIN_KEYED_QUEUE, {
    orgId,
    destinationId,
  });
  if (key !== null)
    await tx.run(KEY_JOIN, { orgId, destinationId, key, seq: Number(next!.next_seq), due: now });
  await tx.run(
    `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
       seq, status, next_attempt_id, next_attempt_at, retry_of, ordering_key, created_at, updated_at)
     VALUES (:id, :messageId, :orgId, 'send', :sourceId, :destinationId, :dataModel, :eventType, :test,
       :seq, 'pending', :firstAttemptId, :now, :retryOf, :orderingKey, :now, :now)`,
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
      orderingKey: key,
    },
  );
  return true;
}
