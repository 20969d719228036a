import type {
  AttemptRecord,
  AttemptResult,
  ClaimedQueue,
  DeliveryLog,
  KeyPick,
  QueueClaim,
  QueueRef,
  QueueStore,
} from '../roles/queue-store.ts';
import { LEFT_QUEUE, QUEUE_DUE } from '../sql/log-columns.ts';
import {
  dueKeys,
  headLogs,
  keyHeadLogs,
  nextDueAt,
  releaseLeases,
  releaseQueue,
} from '../sql/queue-heads.ts';
import { KEY_RETRY, KEYED_LOG_LEFT } from '../sql/queue-keys.ts';
import { insertAttempt } from './intake.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/**
 * The embedded store's delivery queues. Claims, attempt records and renewals are written for
 * this store, synchronously inside the group commit (they run per delivery); the reads are the
 * shared ones (`../sql/queue-heads.ts`). One process owns the file, so a lease only keeps this
 * process's runners apart, and a plain UPDATE takes it.
 */
export class SqliteQueues implements QueueStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async claimQueues(claim: QueueClaim): Promise<ClaimedQueue[]> {
    const excluded = new Set(claim.exclude.map(queueKey));
    const candidates = (
      await this.#db.all<{
        org_id: string;
        destination_id: string;
        alert_log_id: string | null;
        alert_key: string | null;
      }>(
        `SELECT q.org_id, q.destination_id, q.alert_log_id,
           (SELECT al.ordering_key FROM logs al WHERE al.id = q.alert_log_id AND al.status = 'pending') AS alert_key FROM queues q
         WHERE q.paused_at IS NULL AND (q.lease_owner IS NULL OR q.lease_expires_at <= :now)
           AND ${QUEUE_DUE} <= :now
         LIMIT :limit`,
        { now: claim.now, limit: claim.limit + excluded.size },
      )
    )
      .map((r) => ({
        orgId: r.org_id,
        destinationId: r.destination_id,
        openAlertLogId: r.alert_log_id,
        openAlertKey: r.alert_key,
      }))
      .filter((q) => !excluded.has(queueKey(q)))
      .slice(0, claim.limit);
    if (candidates.length === 0) return [];
    return this.#db.commit(() =>
      candidates.filter(
        (q) =>
          this.#db.runSync(
            `UPDATE queues SET lease_owner = :owner, lease_expires_at = :until
             WHERE org_id = :orgId AND destination_id = :destinationId AND paused_at IS NULL
               AND (lease_owner IS NULL OR lease_expires_at <= :now OR lease_owner = :owner)`,
            {
              orgId: q.orgId,
              destinationId: q.destinationId,
              owner: claim.owner,
              until: claim.leaseUntil,
              now: claim.now,
            },
          ) === 1,
      ),
    );
  }

  nextDueAt(owner: string): Promise<number | null> {
    return nextDueAt(this.#db, owner);
  }

  headLogs(queue: QueueRef, limit: number): Promise<DeliveryLog[]> {
    return headLogs(this.#db, queue, limit);
  }

  dueKeys(queue: QueueRef, owner: string, pick: KeyPick): Promise<{ key: string; dueAt: number }[]> {
    return dueKeys(this.#db, queue, owner, pick);
  }

  keyHeadLogs(queue: QueueRef, key: string, limit: number): Promise<DeliveryLog[]> {
    return keyHeadLogs(this.#db, queue, key, limit);
  }

  recordAttempt(record: AttemptRecord): Promise<AttemptResult> {
    return this.#db.commit((): AttemptResult => {
      const { attempt, log, queue, alert } = record;
      const db = this.#db;
      const row = db.getSync<{ lease_owner: string | null; paused_at: number | null }>(
        'SELECT lease_owner, paused_at FROM queues WHERE org_id = :orgId AND destination_id = :destinationId',
        { ...queue },
      );
      const paused = row?.paused_at != null;
      // The queue was taken over (its lease had expired): the new owner's attempt is the record.
      if (row?.lease_owner !== record.owner) return { leaseHeld: false, paused };
      insertAttempt(db, attempt);
      const updated = db.getSync<{ seq: number }>(
        `UPDATE logs SET status = :status, attempt_count = attempt_count + 1, next_attempt_at = :nextAttemptAt,
           next_attempt_id = :nextAttemptId, failed_reason = :failedReason, updated_at = :now
         WHERE id = :id AND status = 'pending' RETURNING seq`,
        { ...log, id: attempt.logId, now: attempt.startedAt + attempt.durationMs },
      );
      const key = record.orderingKey;
      if (updated && log.status !== 'pending') {
        if (key === undefined) db.runSync(LEFT_QUEUE, { ...queue, seq: updated.seq });
        else {
          for (const sql of KEYED_LOG_LEFT) db.runSync(sql, { ...queue, key, seq: updated.seq });
        }
      } else if (updated && key !== undefined)
        db.runSync(KEY_RETRY, {
          ...queue,
          key,
          due: log.nextAttemptAt,
          now: attempt.startedAt + attempt.durationMs,
        });
      // The lease is only written to give it back: the dispatcher's renew loop keeps it alive.
      if (record.release)
        db.runSync(
          `UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL
           WHERE org_id = :orgId AND destination_id = :destinationId`,
          { ...queue },
        );
      if (alert) {
        db.runSync(
          `INSERT INTO alerts (id, org_id, destination_id, log_id, kind, attempts, error, created_at)
           VALUES (:id, :orgId, :destinationId, :logId, :kind, :attempts, :error, :createdAt)`,
          {
            id: alert.id,
            orgId: alert.orgId,
            destinationId: alert.destinationId,
            logId: alert.logId,
            kind: alert.kind,
            attempts: alert.attempts,
            error: alert.error,
            createdAt: alert.createdAt,
          },
        );
        db.runSync(
          'UPDATE queues SET alert_log_id = :logId WHERE org_id = :orgId AND destination_id = :destinationId',
          { ...queue, logId: alert.kind === 'failing' ? alert.logId : null },
        );
      }
      return { leaseHeld: true, paused };
    });
  }

  async renewLeases(owner: string, queues: QueueRef[], until: number): Promise<QueueRef[]> {
    if (queues.length === 0) return [];
    return this.#db.commit(() =>
      queues.filter(
        (q) =>
          this.#db.runSync(
            `UPDATE queues SET lease_expires_at = :until
             WHERE org_id = :orgId AND destination_id = :destinationId AND lease_owner = :owner`,
            { ...q, owner, until },
          ) === 1,
      ),
    );
  }

  async releaseQueue(owner: string, queue: QueueRef): Promise<void> {
    await releaseQueue(this.#db, owner, queue);
  }

  async releaseLeases(owner?: string): Promise<void> {
    await releaseLeases(this.#db, owner);
  }
}

function queueKey(q: QueueRef): string {
  return `${q.orgId}\u0000${q.destinationId}`;
}
