import type { AcceptedMessage, NewMessage } from '../roles/intake-store.ts';
import { payloadText } from '../rows.ts';
import { Batcher } from './batcher.ts';
import type { PositionalQuery } from './pg-database.ts';

/**
 * Messages with their logs and search keys, many messages in one statement. Each destination's next sequence
 * numbers come from its queue row (`next_seq + n`), which stays locked until commit, so a
 * destination's logs commit in sequence order and a reader never sees a gap that fills later.
 * Queue rows are taken in key order, so concurrent statements cannot deadlock on them. Within a
 * batch, sequences follow the order of the batch (the messages' arrival order). A keyed log
 * (ordering keys, SPEC 5.2) also joins its key's row in `queue_keys`, taken after the queue rows
 * and in key order, as the attempt records take them.
 */
export const INSERT_MESSAGES = `
WITH mi AS (
  SELECT x.*, nextval(pg_get_serial_sequence('messages', 'id')) AS id
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
    $8::boolean[], $17::text[])
    WITH ORDINALITY AS x(org_id, source_id, payload, received_at, type, data_model, event_type, test, problems, k)),
m AS (
  INSERT INTO messages (id, org_id, source_id, payload, received_at, problems)
  SELECT id, org_id, source_id, payload, received_at, problems FROM mi ORDER BY k),
sk AS (
  INSERT INTO search_keys (org_id, key, message_id)
  SELECT mi.org_id, z.key, mi.id FROM unnest($15::bigint[], $16::text[]) AS z(k, key) JOIN mi ON mi.k = z.k
  ON CONFLICT DO NOTHING),
u AS (
  SELECT y.*, mi.org_id, mi.source_id, mi.id AS message_id, mi.received_at, mi.type, mi.data_model,
    mi.event_type, mi.test,
    row_number() OVER (PARTITION BY mi.org_id, y.destination_id ORDER BY y.n) AS r,
    count(*) OVER (PARTITION BY mi.org_id, y.destination_id) AS c
  FROM unnest($9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $18::text[])
    WITH ORDINALITY AS y(k, id, destination_id, status, next_attempt_id, failed_reason, ordering_key, n)
  JOIN mi ON mi.k = y.k),
s AS (
  INSERT INTO queues AS q (org_id, destination_id, next_seq, pending_count, keyed_count)
  SELECT org_id, destination_id, count(*), count(*), count(*) FILTER (WHERE ordering_key IS NOT NULL)
  FROM u WHERE destination_id IS NOT NULL
  GROUP BY org_id, destination_id ORDER BY org_id, destination_id
  ON CONFLICT (org_id, destination_id)
  DO UPDATE SET next_seq = q.next_seq + excluded.next_seq, pending_count = q.pending_count + excluded.pending_count,
    keyed_count = q.keyed_count + excluded.keyed_count,
    -- No unkeyed log was pending: the unkeyed mark starts at this batch's first log.
    pending_from = CASE WHEN q.pending_count <= q.keyed_count AND excluded.keyed_count < excluded.pending_count
      THEN q.next_seq + 1 ELSE q.pending_from END
  RETURNING org_id, destination_id, next_seq),
kq AS (
  INSERT INTO queue_keys AS k (org_id, destination_id, key, pending_count, head_seq, head_due)
  SELECT u.org_id, u.destination_id, u.ordering_key, count(*), min(s.next_seq - u.c + u.r), min(u.received_at)
  FROM u JOIN s ON s.org_id = u.org_id AND s.destination_id = u.destination_id
  WHERE u.ordering_key IS NOT NULL
  GROUP BY u.org_id, u.destination_id, u.ordering_key ORDER BY u.org_id, u.destination_id, u.ordering_key
  ON CONFLICT (org_id, destination_id, key) DO UPDATE SET pending_count = k.pending_count + excluded.pending_count)
INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
  seq, status, next_attempt_id, next_attempt_at, failed_reason, ordering_key, created_at, updated_at)
SELECT u.id, u.message_id, u.org_id, u.type, u.source_id, u.destination_id, u.data_model, u.event_type,
  u.test, s.next_seq - u.c + u.r, u.status, u.next_attempt_id,
  CASE WHEN u.status = 'pending' THEN u.received_at END, u.failed_reason, u.ordering_key, u.received_at,
  u.received_at
FROM u LEFT JOIN s ON s.org_id = u.org_id AND s.destination_id = u.destination_id
ORDER BY u.n
RETURNING id, message_id, seq`;

/** Payload bytes one statement may carry; a bigger message goes alone. */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_MESSAGES = 128;

export function messageBatcher(
  run: PositionalQuery,
  maxInFlight: number,
): Batcher<NewMessage, AcceptedMessage> {
  return new Batcher({
    maxInFlight,
    admits: (batch, message) =>
      batch.length < BATCH_MESSAGES &&
      batch.reduce((bytes, m) => bytes + m.payload.length, message.payload.length) <= BATCH_BYTES,
    execute: (batch) => insertMessages(run, batch),
  });
}

export async function insertMessages(run: PositionalQuery, batch: NewMessage[]): Promise<AcceptedMessage[]> {
  const column = <T>(pick: (m: NewMessage) => T): T[] => batch.map(pick);
  const logs = batch.flatMap((message, k) => message.logs.map((log) => ({ k: k + 1, log })));
  const keys = batch.flatMap((message, k) => message.searchKeys.map((key) => ({ k: k + 1, key })));
  const rows = (await run(INSERT_MESSAGES, [
    column((m) => m.orgId),
    column((m) => m.sourceId),
    column((m) => payloadText(m.payload)),
    column((m) => m.receivedAt),
    column((m) => m.type),
    column((m) => m.dataModel),
    column((m) => m.eventType),
    column((m) => m.test),
    logs.map((l) => l.k),
    logs.map((l) => l.log.id),
    logs.map((l) => l.log.destinationId),
    logs.map((l) => l.log.status),
    logs.map((l) => l.log.firstAttemptId),
    logs.map((l) => l.log.failedReason ?? null),
    keys.map((k) => k.k),
    keys.map((k) => k.key),
    column((m) => (m.problems?.length ? JSON.stringify(m.problems) : null)),
    logs.map((l) => l.log.orderingKey ?? null),
  ])) as { id: string; message_id: number; seq: number | null }[];
  const byLog = new Map(rows.map((r) => [r.id, r]));
  return batch.map((message) => {
    const first = byLog.get(message.logs[0]!.id);
    if (!first) throw new Error('message missing from its batch result');
    return {
      messageId: first.message_id,
      transmissionId: first.message_id,
      logs: message.logs.map((l) => ({
        id: l.id,
        destinationId: l.destinationId,
        sequence: byLog.get(l.id)?.seq ?? null,
      })),
    };
  });
}
