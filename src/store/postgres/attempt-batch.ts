import type { AttemptRecord, AttemptResult } from '../roles/queue-store.ts';
import { Batcher } from './batcher.ts';
import type { PositionalQuery } from './pg-database.ts';

/**
 * Records many attempts (of different queues) in one call, so one round trip and one commit:
 * the delivery hot path, written for PostgreSQL as a function (migration 10,
 * `switchboard_record_attempts_v2`, which also keeps ordering keys). For each record, in queue key order, as the accept path
 * locks queue rows, so concurrent calls cannot deadlock: lock its queue row; if its owner no
 * longer holds the lease (another instance took the queue over after this one stalled past
 * `leaseMs`), write nothing: the new owner's attempt, under the same ID, is the record. Else
 * record the attempt, move the log, write the alert the delivery engine raised, and update the
 * queue (release, open alert, depth, `pending_from` past the head). The dispatcher's renew loop
 * keeps leases alive, so the queue row is rewritten only when one of those changes.
 */
export const RECORD_ATTEMPTS = `SELECT key, held, paused_at FROM switchboard_record_attempts_v2(
  $1::text[], $2::text[], $3::text[],
  $4::text[], $5::text[], $6::int[], $7::bigint[], $8::int[], $9::text[], $10::int[], $11::text[],
  $12::text[], $13::text[],
  $14::text[], $15::bigint[], $16::text[], $17::text[], $18::bigint[], $19::boolean[],
  $20::text[], $21::text[], $22::int[], $23::text[], $24::bigint[], $25::text[])`;

interface ResultRow {
  key: string;
  held: boolean;
  paused_at: number | null;
}

/**
 * Attempt records go to PostgreSQL group-committed (see `Batcher`), at most one per queue or
 * ordering key in a batch.
 */
export function attemptBatcher(
  run: PositionalQuery,
  maxInFlight: number,
): Batcher<AttemptRecord, AttemptResult> {
  return new Batcher({
    maxInFlight,
    // One unkeyed record per queue in a batch (its runner has one log in flight anyway); the keys
    // of a keyed queue go together: their runner has up to `maxInFlight` logs in flight.
    admits: (batch, record) =>
      batch.length < 256 &&
      !batch.some(
        (r) =>
          r.queue.orgId === record.queue.orgId &&
          r.queue.destinationId === record.queue.destinationId &&
          (r.orderingKey === undefined ||
            record.orderingKey === undefined ||
            r.orderingKey === record.orderingKey),
      ),
    execute: async (batch) => {
      const rows = await run<ResultRow>(RECORD_ATTEMPTS, batchParams(batch));
      const byKey = new Map(rows.map((row) => [row.key, row]));
      return batch.map((record) => {
        const row = byKey.get(record.attempt.id);
        if (!row) throw new Error('attempt record missing from its batch result');
        return { leaseHeld: row.held, paused: row.paused_at !== null };
      });
    },
  });
}

function batchParams(batch: AttemptRecord[]): unknown[] {
  const column = <T>(pick: (r: AttemptRecord) => T): T[] => batch.map(pick);
  return [
    column((r) => r.queue.orgId),
    column((r) => r.queue.destinationId),
    column((r) => r.owner),
    column((r) => r.attempt.id),
    column((r) => r.attempt.logId),
    column((r) => r.attempt.number),
    column((r) => r.attempt.startedAt),
    column((r) => r.attempt.durationMs),
    column((r) => r.attempt.requestUrl),
    column((r) => r.attempt.statusCode),
    column((r) => r.attempt.responseExcerpt),
    column((r) => r.attempt.error),
    column((r) => r.attempt.outcome),
    column((r) => r.log.status),
    column((r) => r.log.nextAttemptAt),
    column((r) => r.log.nextAttemptId),
    column((r) => r.log.failedReason),
    column((r) => r.attempt.startedAt + r.attempt.durationMs),
    column((r) => r.release),
    column((r) => r.alert?.id ?? null),
    column((r) => r.alert?.kind ?? null),
    column((r) => r.alert?.attempts ?? null),
    column((r) => r.alert?.error ?? null),
    column((r) => r.alert?.createdAt ?? null),
    column((r) => r.orderingKey ?? null),
  ];
}
