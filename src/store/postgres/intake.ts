import type {
  AcceptedMessage,
  AcceptResult,
  IntakeStore,
  NewMessage,
  QueryRecord,
} from '../roles/intake-store.ts';
import { payloadText } from '../rows.ts';
import { Rollback } from '../sql/database.ts';
import type { Batcher } from './batcher.ts';
import { insertMessages, messageBatcher } from './message-batch.ts';
import type { PgDatabase } from './pg-database.ts';

interface SeenKey {
  fingerprint: string;
  answer: string;
  message_id: number;
}

/**
 * PostgreSQL's accept path, written for it: messages accepted during one turn of the event loop
 * go in one statement (`message-batch.ts`), the hot path of every 200. Requests with an
 * `Idempotency-Key` take a transaction of their own.
 */
export class PgIntake implements IntakeStore {
  readonly #db: PgDatabase;
  readonly #messages: Batcher<NewMessage, AcceptedMessage>;
  readonly #announceWork: () => void;

  constructor(db: PgDatabase, options: { maxInFlight: number; announceWork: () => void }) {
    this.#db = db;
    this.#announceWork = options.announceWork;
    this.#messages = messageBatcher((sql, params) => db.queryRetrying(sql, params), options.maxInFlight);
  }

  async acceptMessage(message: NewMessage): Promise<AcceptResult> {
    const result = message.idempotency ? await this.#acceptOnce(message) : await this.#accept(message);
    if (result.kind === 'accepted' && message.logs.some((l) => l.status === 'pending')) this.#announceWork();
    return result;
  }

  async #accept(message: NewMessage): Promise<AcceptResult> {
    return { kind: 'accepted', ...(await this.#messages.run(message)) };
  }

  async #acceptOnce(message: NewMessage): Promise<AcceptResult> {
    const idempotency = message.idempotency!;
    const key = [message.orgId, message.sourceId, idempotency.key];
    const answerFor = (seen: SeenKey): AcceptResult =>
      seen.fingerprint === idempotency.fingerprint
        ? {
            kind: 'replayed',
            answer: seen.answer,
            messageId: seen.message_id,
            transmissionId: seen.message_id,
          }
        : { kind: 'conflict' };
    const seen = await this.#seenKey(key, idempotency.since);
    if (seen) return answerFor(seen);
    const outcome = await this.#db.positionalTransaction(async (tx): Promise<AcceptResult | 'raced'> => {
      await tx.query(
        'DELETE FROM idempotency_keys WHERE org_id = $1 AND source_id = $2 AND key = $3 AND created_at < $4',
        [...key, idempotency.since],
      );
      const [accepted] = await insertMessages(tx.query, [message]);
      const stored = await tx.query(
        `INSERT INTO idempotency_keys (org_id, source_id, key, fingerprint, answer, message_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1`,
        [...key, idempotency.fingerprint, idempotency.answer, accepted!.messageId, message.receivedAt],
      );
      // A concurrent request with the same key committed first: this one stores nothing.
      if (stored.length === 0) throw new Rollback('raced' as const);
      return { kind: 'accepted', ...accepted! };
    });
    if (outcome !== 'raced') return outcome;
    const first = await this.#seenKey(key, idempotency.since);
    if (!first) throw new Error('idempotency key vanished while resolving a concurrent request');
    return answerFor(first);
  }

  async #seenKey(key: unknown[], since: number): Promise<SeenKey | undefined> {
    const [row] = await this.#db.query<SeenKey>(
      `SELECT fingerprint, answer, message_id FROM idempotency_keys
       WHERE org_id = $1 AND source_id = $2 AND key = $3 AND created_at >= $4`,
      [...key, since],
    );
    return row;
  }

  async recordQuery(query: QueryRecord): Promise<void> {
    const { attempt } = query;
    // One statement, so one round trip and one transaction.
    await this.#db.query(
      `WITH m AS (
         INSERT INTO messages (org_id, source_id, payload, received_at, problems) VALUES ($1, $2, $3, $4, $24)
         RETURNING id),
       k AS (
         INSERT INTO search_keys (org_id, key, message_id)
         SELECT $1, key, m.id FROM m, unnest($23::text[]) AS key ON CONFLICT DO NOTHING),
       l AS (
         INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
           seq, status, attempt_count, failed_reason, created_at, updated_at)
         SELECT $5, m.id, $1, 'request', $2, $6, $7, $8, $9, NULL, $10, 1, $11, $4, $12 FROM m)
       INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code,
         response_excerpt, error, outcome)
       VALUES ($13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
      [
        query.orgId,
        query.sourceId,
        payloadText(query.payload),
        query.receivedAt,
        query.log.id,
        query.log.destinationId,
        query.dataModel,
        query.eventType,
        query.test,
        query.log.status,
        query.log.failedReason,
        attempt.startedAt + attempt.durationMs,
        attempt.id,
        attempt.logId,
        attempt.number,
        attempt.startedAt,
        attempt.durationMs,
        attempt.requestUrl,
        attempt.statusCode,
        attempt.responseExcerpt,
        attempt.error,
        attempt.outcome,
        query.searchKeys,
        query.problems?.length ? JSON.stringify(query.problems) : null,
      ],
    );
  }
}
