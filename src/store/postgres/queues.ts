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
import { QUEUE_DUE } from '../sql/log-columns.ts';
import {
  dueKeys,
  headLogs,
  keyHeadLogs,
  nextDueAt,
  releaseLeases,
  releaseQueue,
} from '../sql/queue-heads.ts';
import { attemptBatcher } from './attempt-batch.ts';
import type { Batcher } from './batcher.ts';
import type { PgDatabase } from './pg-database.ts';

/**
 * PostgreSQL's delivery queues: a queue's lease gives one instance the right to deliver to a
 * destination. Claims take leases with `FOR UPDATE SKIP LOCKED` in one statement; attempt
 * records are group-committed (`attempt-batch.ts`); both run per delivery, so they are written
 * for PostgreSQL. The reads are the shared ones (`../sql/queue-heads.ts`). Released leases
 * announce work, so another instance may take the queue at once.
 */
export class PgQueues implements QueueStore {
  readonly #db: PgDatabase;
  readonly #attempts: Batcher<AttemptRecord, AttemptResult>;
  readonly #announceWork: () => void;

  constructor(db: PgDatabase, options: { maxInFlight: number; announceWork: () => void }) {
    this.#db = db;
    this.#announceWork = options.announceWork;
    this.#attempts = attemptBatcher((sql, params) => db.queryRetrying(sql, params), options.maxInFlight);
  }

  async claimQueues(claim: QueueClaim): Promise<ClaimedQueue[]> {
    const rows = await this.#db.query<{
      org_id: string;
      destination_id: string;
      alert_log_id: string | null;
      alert_key: string | null;
    }>(
      `WITH due AS (
         SELECT q.org_id, q.destination_id FROM queues q
         WHERE q.paused_at IS NULL AND (q.lease_owner IS NULL OR q.lease_expires_at <= $2)
           AND (q.org_id, q.destination_id) NOT IN (SELECT * FROM unnest($5::text[], $6::text[]))
           AND ${QUEUE_DUE} <= $2
         LIMIT $4
         FOR UPDATE OF q SKIP LOCKED)
       UPDATE queues q SET lease_owner = $1, lease_expires_at = $3 FROM due
       WHERE q.org_id = due.org_id AND q.destination_id = due.destination_id
       RETURNING q.org_id, q.destination_id, q.alert_log_id,
         (SELECT al.ordering_key FROM logs al WHERE al.id = q.alert_log_id AND al.status = 'pending') AS alert_key`,
      [
        claim.owner,
        claim.now,
        claim.leaseUntil,
        claim.limit,
        claim.exclude.map((e) => e.orgId),
        claim.exclude.map((e) => e.destinationId),
      ],
    );
    return rows.map((r) => ({
      orgId: r.org_id,
      destinationId: r.destination_id,
      openAlertLogId: r.alert_log_id,
      openAlertKey: r.alert_key,
    }));
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

  async recordAttempt(record: AttemptRecord): Promise<AttemptResult> {
    const result = await this.#attempts.run(record);
    // A released queue waits for a later retry; an idle instance may take it then.
    if (record.release && result.leaseHeld) this.#announceWork();
    return result;
  }

  /** Locks the queue rows in key order, as every other writer of them does, so renewals cannot deadlock. */
  /** Locks the queue rows in key order, as every other writer of them does, so renewals cannot deadlock. */
  async renewLeases(owner: string, queues: QueueRef[], until: number): Promise<QueueRef[]> {
    if (queues.length === 0) return [];
    const rows = await this.#db.queryRetrying<{ org_id: string; destination_id: string }>(
      `WITH r AS (
         SELECT s.org_id, s.destination_id FROM queues s
         JOIN unnest($2::text[], $3::text[]) AS u(org_id, destination_id)
           ON s.org_id = u.org_id AND s.destination_id = u.destination_id
         WHERE s.lease_owner = $1
         ORDER BY s.org_id, s.destination_id
         FOR UPDATE OF s)
       UPDATE queues q SET lease_expires_at = $4 FROM r
       WHERE q.org_id = r.org_id AND q.destination_id = r.destination_id
       RETURNING q.org_id, q.destination_id`,
      [owner, queues.map((r) => r.orgId), queues.map((r) => r.destinationId), until],
    );
    return rows.map((r) => ({ orgId: r.org_id, destinationId: r.destination_id }));
  }

  async releaseQueue(owner: string, queue: QueueRef): Promise<void> {
    if (await releaseQueue(this.#db, owner, queue)) this.#announceWork();
  }

  async releaseLeases(owner?: string): Promise<void> {
    if (await releaseLeases(this.#db, owner)) this.#announceWork();
  }
}
