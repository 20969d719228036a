import type { AttemptRecord, AttemptResult } from '../roles/queue-store.ts';
import { Batcher } from './batcher.ts';
import type { PositionalQuery } from './pg-database.ts';

/**
 * Records many attempts (of different queues) in one statement, so one round trip and one
 * commit: the delivery hot path, written for PostgreSQL. For each input row: lock its queue row
 * if that row's owner still holds the lease; then, for the rows that do, record the attempt,
 * move the log, release the lease if asked, and write the alert the attempt raised (decided by
 * the delivery engine) with the queue's open alert. A row without the lease (another instance
 * took the queue over after this one stalled past `leaseMs`) writes nothing: the new owner's
 * attempt, under the same ID, is the record. Queue rows are locked in key order, as the accept
 * path does, so concurrent statements cannot deadlock on them.
 *
 * The queue row is rewritten for a release, an alert, or a log leaving 'pending' (its
 * `pending_from` moves past the head); the dispatcher's renew loop keeps leases alive. The NOT
 * EXISTS sees the statement's snapshot, before this statement's log updates, which is right: at
 * most one record per queue is in a batch, and only logs below it matter.
 */
export const RECORD_ATTEMPTS = `
WITH i AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[],
    $4::text[], $5::text[], $6::int[], $7::bigint[], $8::int[], $9::text[], $10::int[], $11::text[],
    $12::text[], $13::text[],
    $14::text[], $15::bigint[], $16::text[], $17::text[], $18::bigint[],
    $19::boolean[], $20::text[], $21::text[], $22::int[], $23::text[], $24::bigint[])
  AS i(org_id, destination_id, owner,
    attempt_id, log_id, number, started_at, duration_ms, request_url, status_code, response_excerpt,
    error, outcome,
    status, next_attempt_at, next_attempt_id, failed_reason, finished_at,
    release, alert_id, alert_kind, alert_attempts, alert_error, alert_created_at)),
q AS (
  SELECT s.org_id, s.destination_id, s.paused_at FROM queues s
  JOIN i ON s.org_id = i.org_id AND s.destination_id = i.destination_id AND s.lease_owner = i.owner
  ORDER BY s.org_id, s.destination_id
  FOR UPDATE OF s),
h AS (
  SELECT i.*, q.paused_at FROM i
  JOIN q ON q.org_id = i.org_id AND q.destination_id = i.destination_id),
a AS (
  INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code,
    response_excerpt, error, outcome)
  SELECT attempt_id, log_id, number, started_at, duration_ms, request_url, status_code,
    response_excerpt, error, outcome FROM h
  ON CONFLICT (id) DO NOTHING),
l AS (
  UPDATE logs SET status = h.status, attempt_count = logs.attempt_count + 1,
    next_attempt_at = h.next_attempt_at, next_attempt_id = h.next_attempt_id,
    failed_reason = h.failed_reason, updated_at = h.finished_at
  FROM h WHERE logs.id = h.log_id
  RETURNING logs.id, logs.seq),
al AS (
  INSERT INTO alerts (id, org_id, destination_id, log_id, kind, attempts, error, created_at)
  SELECT alert_id, org_id, destination_id, log_id, alert_kind, alert_attempts, alert_error, alert_created_at
  FROM h WHERE alert_kind IS NOT NULL),
u AS (
  UPDATE queues s SET
    lease_owner = CASE WHEN h.release THEN NULL ELSE s.lease_owner END,
    lease_expires_at = CASE WHEN h.release THEN NULL ELSE s.lease_expires_at END,
    alert_log_id = CASE h.alert_kind WHEN 'failing' THEN h.log_id WHEN 'recovered' THEN NULL
                   ELSE s.alert_log_id END,
    pending_count = s.pending_count - CASE WHEN h.status <> 'pending' THEN 1 ELSE 0 END,
    pending_from = CASE WHEN h.status <> 'pending' AND s.pending_from <= l.seq AND NOT EXISTS (
        SELECT 1 FROM logs p WHERE p.org_id = s.org_id AND p.destination_id = s.destination_id
          AND p.seq >= s.pending_from AND p.seq < l.seq AND p.status = 'pending')
      THEN l.seq + 1 ELSE s.pending_from END
  FROM h LEFT JOIN l ON l.id = h.log_id
  WHERE s.org_id = h.org_id AND s.destination_id = h.destination_id
    AND (h.release OR h.alert_kind IS NOT NULL OR h.status <> 'pending'))
SELECT i.attempt_id AS key, h.log_id IS NOT NULL AS held,
  CASE WHEN h.log_id IS NOT NULL THEN h.paused_at
       ELSE (SELECT x.paused_at FROM queues x WHERE x.org_id = i.org_id AND x.destination_id = i.destination_id)
  END AS paused_at
FROM i LEFT JOIN h ON h.attempt_id = i.attempt_id`;

interface ResultRow {
  key: string;
  held: boolean;
  paused_at: number | null;
}

/**
 * Attempt records go to PostgreSQL group-committed (see `Batcher`), at most one per queue in a
 * batch, so each queue row is locked once per statement.
 */
export function attemptBatcher(
  run: PositionalQuery,
  maxInFlight: number,
): Batcher<AttemptRecord, AttemptResult> {
  return new Batcher({
    maxInFlight,
    admits: (batch, record) =>
      batch.length < 256 &&
      !batch.some(
        (r) => r.queue.orgId === record.queue.orgId && r.queue.destinationId === record.queue.destinationId,
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
  ];
}
