import type { Alert } from '../../models/alert.ts';
import type { Attempt } from '../../models/log.ts';
import type { AttemptRecord, AttemptResult } from '../store.ts';
import { Batcher } from './batcher.ts';

/**
 * Records many attempts (of different queues) in one statement, so one round trip and one
 * commit. For each input row: lock its queue row if that row's owner still holds the lease;
 * then, for the rows that do, record the attempt, move the log, release the lease if asked and
 * raise the alert the attempt calls for (SPEC 5.5, see `AttemptRecord.alert`). A row without
 * the lease (another instance took the queue over after this one stalled past `leaseMs`) writes
 * nothing: the new owner's attempt, under the same ID, is the record. Queue rows are locked in
 * key order, as the accept path does, so concurrent statements cannot deadlock on them.
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
    $19::boolean[], $20::text[], $21::int[], $22::text[])
  AS i(org_id, destination_id, owner,
    attempt_id, log_id, number, started_at, duration_ms, request_url, status_code, response_excerpt,
    error, outcome,
    status, next_attempt_at, next_attempt_id, failed_reason, finished_at,
    release, alert_id, after_attempts, alert_error)),
q AS (
  SELECT s.org_id, s.destination_id, s.alert_log_id, s.paused_at FROM queues s
  JOIN i ON s.org_id = i.org_id AND s.destination_id = i.destination_id AND s.lease_owner = i.owner
  ORDER BY s.org_id, s.destination_id
  FOR UPDATE OF s),
h AS (
  SELECT i.*, q.alert_log_id, q.paused_at FROM i
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
  RETURNING logs.id, logs.attempt_count, logs.seq),
al AS (
  INSERT INTO alerts (id, org_id, destination_id, log_id, kind, attempts, error, created_at)
  SELECT h.alert_id, h.org_id, h.destination_id, h.log_id,
    CASE WHEN h.outcome = 'failed' THEN 'failing' ELSE 'recovered' END, l.attempt_count,
    CASE WHEN h.outcome = 'failed' THEN h.alert_error END, h.finished_at
  FROM h JOIN l ON l.id = h.log_id
  WHERE CASE WHEN h.outcome = 'failed' THEN h.alert_log_id IS NULL AND l.attempt_count >= h.after_attempts
        ELSE h.alert_log_id IS NOT NULL END
  RETURNING id, org_id, destination_id, kind, attempts),
u AS (
  UPDATE queues s SET
    lease_owner = CASE WHEN h.release THEN NULL ELSE s.lease_owner END,
    lease_expires_at = CASE WHEN h.release THEN NULL ELSE s.lease_expires_at END,
    alert_log_id = CASE al.kind WHEN 'failing' THEN h.log_id WHEN 'recovered' THEN NULL
                   ELSE s.alert_log_id END,
    pending_from = CASE WHEN h.status <> 'pending' AND s.pending_from <= l.seq AND NOT EXISTS (
        SELECT 1 FROM logs p WHERE p.org_id = s.org_id AND p.destination_id = s.destination_id
          AND p.seq >= s.pending_from AND p.seq < l.seq AND p.status = 'pending')
      THEN l.seq + 1 ELSE s.pending_from END
  FROM h LEFT JOIN l ON l.id = h.log_id LEFT JOIN al ON al.id = h.alert_id
  WHERE s.org_id = h.org_id AND s.destination_id = h.destination_id
    AND (h.release OR al.id IS NOT NULL OR h.status <> 'pending'))
SELECT i.alert_id AS key, h.log_id IS NOT NULL AS held,
  CASE WHEN h.log_id IS NOT NULL THEN h.paused_at
       ELSE (SELECT x.paused_at FROM queues x WHERE x.org_id = i.org_id AND x.destination_id = i.destination_id)
  END AS paused_at,
  al.kind AS alert_kind, al.attempts AS alert_attempts
FROM i LEFT JOIN h ON h.alert_id = i.alert_id LEFT JOIN al ON al.id = i.alert_id`;

interface ResultRow {
  key: string;
  held: boolean;
  paused_at: number | null;
  alert_kind: Alert['kind'] | null;
  alert_attempts: number | null;
}

export type RunStatement = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * Attempt records go to PostgreSQL group-committed (see `Batcher`), at most one per queue in a
 * batch, so each queue row is locked once per statement.
 */
export function attemptBatcher(
  run: RunStatement,
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
      const rows = (await run(RECORD_ATTEMPTS, batchParams(batch))) as unknown as ResultRow[];
      const byKey = new Map(rows.map((row) => [row.key, row]));
      return batch.map((record) => toResult(record, byKey.get(record.alert.id)));
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
    column((r) => r.alert.id),
    column((r) => r.alert.afterAttempts),
    column((r) => describeFailure(r.attempt)),
  ];
}

function toResult(record: AttemptRecord, row: ResultRow | undefined): AttemptResult {
  if (!row) throw new Error('attempt record missing from its batch result');
  const result: AttemptResult = { leaseHeld: row.held, paused: row.paused_at !== null };
  if (row.alert_kind) {
    const { attempt, queue } = record;
    result.alert = {
      id: record.alert.id,
      orgId: queue.orgId,
      destinationId: queue.destinationId,
      logId: attempt.logId,
      kind: row.alert_kind,
      attempts: row.alert_attempts ?? attempt.number,
      error: row.alert_kind === 'failing' ? describeFailure(attempt) : null,
      createdAt: attempt.startedAt + attempt.durationMs,
      sentAt: null,
      channels: [],
    };
  }
  return result;
}

export function describeFailure(attempt: Attempt): string {
  if (attempt.error) return attempt.error;
  return attempt.statusCode === null ? 'failed' : `HTTP ${attempt.statusCode}`;
}
