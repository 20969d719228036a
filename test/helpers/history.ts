import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';

/**
 * Bulk-inserts a delivered history straight into a store's tables, as months of traffic would
 * have left it: `count` messages from source `ehr`, each with one `succeeded` log in queue
 * `orgId/destinationId` (sequences continuing the queue's), one attempt and one search key
 * `hist-<id>` (the payload's patient identifier `HIST-<id>`, `<id>` the message ID), created one millisecond apart from
 * `from`. The queue's `next_seq` and `pending_from` move past them, as delivery would have.
 * With `pending`, the logs are a backlog instead: pending, due from `from`, no attempts.
 * For tests and benchmarks of queries on a big table; written in SQL so a million rows take
 * seconds, not the hours the API would.
 */
export interface HistorySpec {
  orgId: string;
  destinationId: string;
  count: number;
  from: number;
  pending?: boolean;
}

const PAYLOAD = `'{"Meta":{"DataModel":"PatientAdmin","EventType":"NewPatient"},"Patient":{"Identifiers":[{"ID":"HIST-' || (:m0 + n) || '","IDType":"MR"}]}}'`;

/** The statements, with `:org`, `:dest`, `:count`, `:from`, `:m0` (message ID base) and `:s0` (seq base). */
function statements(series: string, pending: boolean): string[] {
  if (pending)
    return [
      `INSERT INTO messages (id, org_id, source_id, payload, received_at)
         SELECT :m0 + n, :org, 'ehr', ${PAYLOAD}, :from + n FROM ${series}`,
      `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
         seq, status, attempt_count, next_attempt_id, next_attempt_at, created_at, updated_at)
         SELECT 'hist-log-' || (:m0 + n), :m0 + n, :org, 'send', 'ehr', :dest, 'PatientAdmin', 'NewPatient', FALSE,
           :s0 + n, 'pending', 0, 'hist-attempt-' || (:m0 + n), :from + n, :from + n, :from + n FROM ${series}`,
      `INSERT INTO search_keys (org_id, key, message_id) SELECT :org, 'hist-' || (:m0 + n), :m0 + n FROM ${series}`,
      `UPDATE queues SET next_seq = :s0 + :count, pending_count = pending_count + :count
         WHERE org_id = :org AND destination_id = :dest`,
    ];
  return [
    `INSERT INTO messages (id, org_id, source_id, payload, received_at)
       SELECT :m0 + n, :org, 'ehr', ${PAYLOAD}, :from + n FROM ${series}`,
    `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
       seq, status, attempt_count, created_at, updated_at)
       SELECT 'hist-log-' || (:m0 + n), :m0 + n, :org, 'send', 'ehr', :dest, 'PatientAdmin', 'NewPatient', FALSE,
         :s0 + n, 'succeeded', 1, :from + n, :from + n FROM ${series}`,
    `INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code, outcome)
       SELECT 'hist-attempt-' || (:m0 + n), 'hist-log-' || (:m0 + n), 1, :from + n, 3, 'http://127.0.0.1:9/h', 200,
         'succeeded' FROM ${series}`,
    `INSERT INTO search_keys (org_id, key, message_id) SELECT :org, 'hist-' || (:m0 + n), :m0 + n FROM ${series}`,
    `UPDATE queues SET next_seq = :s0 + :count, pending_from = :s0 + :count + 1
       WHERE org_id = :org AND destination_id = :dest`,
  ];
}

export function seedSqliteHistory(path: string, spec: HistorySpec): void {
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA busy_timeout = 10000');
    const bases = db
      .prepare(
        `SELECT (SELECT coalesce(max(id), 0) FROM messages) AS m0,
           (SELECT next_seq FROM queues WHERE org_id = ? AND destination_id = ?) AS s0`,
      )
      .get(spec.orgId, spec.destinationId) as { m0: number; s0: number };
    const params = {
      org: spec.orgId,
      dest: spec.destinationId,
      count: spec.count,
      from: spec.from,
      ...bases,
    };
    const series = `(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :count) SELECT n FROM s)`;
    db.exec('BEGIN');
    for (const sql of statements(series, spec.pending ?? false)) {
      const statement = db.prepare(sql);
      statement.setAllowUnknownNamedParameters(true);
      statement.run(params);
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

export async function seedPostgresHistory(url: string, spec: HistorySpec): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ m0: string; s0: string }>(
      `SELECT (SELECT coalesce(max(id), 0) FROM messages) AS m0,
         (SELECT next_seq FROM queues WHERE org_id = $1 AND destination_id = $2) AS s0`,
      [spec.orgId, spec.destinationId],
    );
    const params: Record<string, unknown> = {
      org: spec.orgId,
      dest: spec.destinationId,
      count: spec.count,
      from: spec.from,
      m0: Number(rows[0]!.m0),
      s0: Number(rows[0]!.s0),
    };
    await client.query('BEGIN');
    for (const sql of statements('generate_series(1, :count) AS g(n)', spec.pending ?? false)) {
      // Literal values: these statements run once, so nothing is gained by parameters.
      const text = sql.replace(/:([a-z0-9]+)/g, (_, name: string) =>
        typeof params[name] === 'string' ? `'${String(params[name])}'` : `${Number(params[name])}::bigint`,
      );
      await client.query(text);
    }
    await client.query(
      `SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages))`,
    );
    await client.query('COMMIT');
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}
