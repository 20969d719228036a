import type {
  AcceptedMessage,
  AcceptResult,
  IntakeStore,
  NewMessage,
  QueryRecord,
} from '../roles/intake-store.ts';
import type { Attempt } from '../../models/log.ts';
import { JOIN_KEYED_QUEUE, JOIN_QUEUE } from '../sql/log-columns.ts';
import { KEY_JOIN } from '../sql/queue-keys.ts';
import type { DiskGuard } from './disk-guard.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/**
 * The embedded store's accept path, written for it rather than shared: it is the hot path of
 * every 200, and synchronous statements inside the group commit cost a few microseconds each,
 * where the promise-based shared executor would add a microtask per statement. PostgreSQL writes
 * whole batches in one statement instead (`postgres/message-batch.ts`).
 */
export class SqliteIntake implements IntakeStore {
  readonly #db: SqliteDatabase;
  readonly #disk: DiskGuard | undefined;

  constructor(db: SqliteDatabase, disk?: DiskGuard) {
    this.#db = db;
    this.#disk = disk;
  }

  /** The disk guard's refusal, as the promise a write returns, or undefined when there is room. */
  #noRoom(bytes: number): Promise<never> | undefined {
    try {
      this.#disk?.check(bytes);
      return undefined;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  acceptMessage(message: NewMessage): Promise<AcceptResult> {
    return (
      this.#noRoom(message.payload.length) ??
      this.#db.commit((): AcceptResult => {
        const { idempotency } = message;
        if (idempotency) {
          const key = { orgId: message.orgId, sourceId: message.sourceId, key: idempotency.key };
          this.#db.runSync(
            `DELETE FROM idempotency_keys
           WHERE org_id = :orgId AND source_id = :sourceId AND key = :key AND created_at < :since`,
            { ...key, since: idempotency.since },
          );
          const seen = this.#db.getSync<{ fingerprint: string; answer: string; message_id: number }>(
            `SELECT fingerprint, answer, message_id FROM idempotency_keys
           WHERE org_id = :orgId AND source_id = :sourceId AND key = :key`,
            key,
          );
          if (seen)
            return seen.fingerprint === idempotency.fingerprint
              ? {
                  kind: 'replayed',
                  answer: seen.answer,
                  messageId: seen.message_id,
                  transmissionId: seen.message_id,
                }
              : { kind: 'conflict' };
          const accepted = this.#insert(message);
          this.#db.runSync(
            `INSERT INTO idempotency_keys (org_id, source_id, key, fingerprint, answer, message_id, created_at)
           VALUES (:orgId, :sourceId, :key, :fingerprint, :answer, :messageId, :createdAt)`,
            {
              ...key,
              fingerprint: idempotency.fingerprint,
              answer: idempotency.answer,
              messageId: accepted.messageId,
              createdAt: message.receivedAt,
            },
          );
          return { kind: 'accepted', ...accepted };
        }
        return { kind: 'accepted', ...this.#insert(message) };
      })
    );
  }

  #insertMessage(
    orgId: string,
    sourceId: string,
    payload: string | Uint8Array,
    receivedAt: number,
    keys: string[],
    problems: string[] | undefined,
  ): number {
    // Bytes bound as a blob become text by the CAST (UTF-8 is the database's encoding), so a
    // payload moved here as bytes is stored as text without a string made of it in this thread.
    const { id } = this.#db.getSync<{ id: number }>(
      `INSERT INTO messages (org_id, source_id, payload, received_at, problems)
       VALUES (:orgId, :sourceId, CAST(:payload AS TEXT), :receivedAt, :problems) RETURNING id`,
      { orgId, sourceId, payload, receivedAt, problems: problems?.length ? JSON.stringify(problems) : null },
    )!;
    for (const key of keys)
      this.#db.runSync(
        'INSERT OR IGNORE INTO search_keys (org_id, key, message_id) VALUES (:orgId, :key, :messageId)',
        { orgId, key, messageId: id },
      );
    return id;
  }

  #insert(message: NewMessage): AcceptedMessage {
    const id = this.#insertMessage(
      message.orgId,
      message.sourceId,
      message.payload,
      message.receivedAt,
      message.searchKeys,
      message.problems,
    );
    const logs = message.logs.map((log) => {
      const keyed = log.orderingKey !== undefined && log.status === 'pending';
      const sequence =
        log.destinationId === null
          ? null
          : this.#db.getSync<{ next_seq: number }>(keyed ? JOIN_KEYED_QUEUE : JOIN_QUEUE, {
              orgId: message.orgId,
              destinationId: log.destinationId,
            })!.next_seq;
      if (keyed && sequence !== null)
        this.#db.runSync(KEY_JOIN, {
          orgId: message.orgId,
          destinationId: log.destinationId,
          key: log.orderingKey,
          seq: sequence,
          due: message.receivedAt,
        });
      this.#db.runSync(
        `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
           seq, status, next_attempt_id, next_attempt_at, failed_reason, ordering_key, created_at, updated_at)
         VALUES (:id, :messageId, :orgId, :type, :sourceId, :destinationId, :dataModel, :eventType, :test,
           :seq, :status, :nextAttemptId, :nextAttemptAt, :failedReason, :orderingKey, :now, :now)`,
        {
          id: log.id,
          messageId: id,
          orgId: message.orgId,
          type: message.type,
          sourceId: message.sourceId,
          destinationId: log.destinationId,
          dataModel: message.dataModel,
          eventType: message.eventType,
          test: message.test,
          seq: sequence,
          status: log.status,
          nextAttemptId: log.firstAttemptId,
          nextAttemptAt: log.status === 'pending' ? message.receivedAt : null,
          failedReason: log.failedReason ?? null,
          orderingKey: log.orderingKey ?? null,
          now: message.receivedAt,
        },
      );
      return { id: log.id, destinationId: log.destinationId, sequence };
    });
    return { messageId: id, transmissionId: id, logs };
  }

  recordQuery(query: QueryRecord): Promise<void> {
    return (
      this.#noRoom(query.payload.length) ??
      this.#db.commitLazily(() => {
        const id = this.#insertMessage(
          query.orgId,
          query.sourceId,
          query.payload,
          query.receivedAt,
          query.searchKeys,
          query.problems,
        );
        this.#db.runSync(
          `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
           seq, status, attempt_count, failed_reason, created_at, updated_at)
         VALUES (:id, :messageId, :orgId, 'request', :sourceId, :destinationId, :dataModel, :eventType, :test,
           NULL, :status, 1, :failedReason, :createdAt, :updatedAt)`,
          {
            ...query.log,
            messageId: id,
            orgId: query.orgId,
            sourceId: query.sourceId,
            dataModel: query.dataModel,
            eventType: query.eventType,
            test: query.test,
            createdAt: query.receivedAt,
            updatedAt: query.attempt.startedAt + query.attempt.durationMs,
          },
        );
        insertAttempt(this.#db, query.attempt);
      })
    );
  }
}

export function insertAttempt(db: SqliteDatabase, attempt: Attempt): void {
  db.runSync(
    `INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code,
       response_excerpt, error, outcome)
     VALUES (:id, :logId, :number, :startedAt, :durationMs, :requestUrl, :statusCode, :responseExcerpt,
       :error, :outcome)`,
    { ...attempt },
  );
}
