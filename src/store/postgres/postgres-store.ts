import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Alert, AlertChannelResult } from '../../models/alert.ts';
import type { CatalogSnapshot } from '../../models/entities.ts';
import type { Attempt, Log, LogDetail, LogFilter, QueueView } from '../../models/log.ts';
import {
  decodeCursor,
  encodeCursor,
  toAlert,
  toAttempt,
  toCatalog,
  toLog,
  type AlertRow,
  type AttemptRow,
  type CatalogRows,
  type LogRow,
} from '../rows.ts';
import type {
  AcceptedMessage,
  AcceptResult,
  AttemptRecord,
  AttemptResult,
  CatalogInput,
  DeliveryLog,
  NewMessage,
  Page,
  PauseInfo,
  PurgeCut,
  PurgeResult,
  QueryRecord,
  QueueClaim,
  QueueRef,
  SkipResult,
  Store,
} from '../store.ts';
import { attemptBatcher } from './attempt-batch.ts';
import type { Batcher } from './batcher.ts';
import { insertMessages, messageBatcher } from './message-batch.ts';
import { PG_MIGRATIONS } from './migrations.ts';
import { clean, createPool, isRetryable, mapError } from './pg-pool.ts';
import { WorkChannel } from './work-channel.ts';

type Row = Record<string, unknown>;
type Query = <T = Row>(sql: string, params?: unknown[]) => Promise<T[]>;

/** Advisory lock keys (class, object) of the start-up steps several instances may run at once. */
const LOCK_MIGRATE = [0x5b0a, 1];
const LOCK_CATALOG = [0x5b0a, 2];
const LOCK_EXCLUSIVE = [0x5b0a, 3];

const LOG_COLUMNS = `l.pk, l.id, l.message_id, l.org_id, l.type, l.source_id, l.destination_id, l.data_model,
  l.event_type, l.test, l.seq, l.status, l.attempt_count, l.next_attempt_at, l.retry_of, l.failed_reason,
  l.created_at, l.updated_at, q.lease_owner, q.lease_expires_at,
  (SELECT min(h.seq) FROM logs h WHERE h.org_id = l.org_id AND h.destination_id = l.destination_id
     AND h.status = 'pending') AS head_seq`;
const LOG_FROM = `logs l LEFT JOIN queues q ON q.org_id = l.org_id AND q.destination_id = l.destination_id`;
/** When the head log of queue `q` is due; NULL when the queue is empty. */
const HEAD_DUE = `(SELECT l.next_attempt_at FROM logs l WHERE l.org_id = q.org_id
  AND l.destination_id = q.destination_id AND l.status = 'pending' ORDER BY l.seq LIMIT 1)`;

/** Thrown inside a transaction to roll it back and still answer `value`. */
class Rollback<T> {
  readonly value: T;
  constructor(value: T) {
    this.value = value;
  }
}

export interface PostgresStoreOptions {
  url: string;
  poolSize: number;
}

/**
 * The scale-out store: any number of instances on one PostgreSQL database. Every write is a
 * transaction committed with `synchronous_commit = on`, so a resolved promise means the WAL is
 * flushed; concurrent commits share flushes in PostgreSQL itself (its group commit).
 *
 * Delivery across instances: a queue's lease (`queues.lease_owner`, `lease_expires_at`) gives
 * one instance the right to deliver to a destination; claims take it with `FOR UPDATE SKIP
 * LOCKED`, and an instance that dies simply stops renewing, so its leases expire and others
 * take over. Writes that move a queue lock its row first, then its logs, always in that order.
 */
export class PostgresStore implements Store {
  readonly capabilities = { multipleWriters: true };
  readonly #pool: pg.Pool;
  readonly #work: WorkChannel;
  readonly #attempts: Batcher<AttemptRecord, AttemptResult>;
  readonly #messages: Batcher<NewMessage, AcceptedMessage>;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.#pool = createPool(options.url, options.poolSize);
    this.#work = new WorkChannel(options.url, this.#pool);
    const run = (sql: string, params: unknown[]): Promise<Row[]> =>
      this.#retrying(() => this.#rows(sql, params));
    // Group commit: about half the connections for attempt records, a quarter for messages; the
    // rest stay free for claims, queries and operators.
    this.#attempts = attemptBatcher(run, Math.max(1, Math.floor(options.poolSize / 2)));
    this.#messages = messageBatcher(run, Math.max(1, Math.floor(options.poolSize / 4)));
  }

  /** Runs a single-statement write again on a serialization failure or deadlock. */
  async #retrying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        if (!isRetryable(error) || attempt >= 5) throw error;
      }
    }
  }

  /** Called when any instance may have stored work this one could deliver. */
  onWork(listener: () => void): () => void {
    return this.#work.subscribe(listener);
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw mapError(error);
    }
    let broken = false;
    try {
      // A session lock, held on this connection while `work` uses others from the pool.
      await client.query('SELECT pg_advisory_lock($1, $2)', LOCK_EXCLUSIVE);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', LOCK_EXCLUSIVE).catch(() => {
          broken = true;
        });
      }
    } catch (error) {
      throw mapError(error);
    } finally {
      client.release(broken);
    }
  }

  async #rows<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    try {
      const result = await this.#pool.query(statement(sql, params));
      return result.rows as T[];
    } catch (error) {
      throw mapError(error);
    }
  }

  async #row<T = Row>(sql: string, params?: unknown[]): Promise<T | undefined> {
    return (await this.#rows<T>(sql, params))[0];
  }

  /** Runs `work` in one transaction, again on a serialization failure or deadlock. */
  async #tx<T>(work: (query: Query) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (error) {
        throw mapError(error);
      }
      let broken = false;
      const query: Query = async <R>(sql: string, params?: unknown[]) =>
        (await client.query(statement(sql, params))).rows as R[];
      try {
        await client.query('BEGIN');
        const value = await work(query);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        if (error instanceof Rollback) return error.value as T;
        if (isRetryable(error) && attempt < 5) continue;
        throw mapError(error);
      } finally {
        client.release(broken);
      }
    }
  }

  async migrate(): Promise<void> {
    await this.#tx(async (q) => {
      await q('SELECT pg_advisory_xact_lock($1, $2)', LOCK_MIGRATE);
      await q('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
      const done = new Set((await q<{ id: number }>('SELECT id FROM schema_migrations')).map((r) => r.id));
      for (const migration of PG_MIGRATIONS) {
        if (done.has(migration.id)) continue;
        await q(migration.sql);
        await q('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [migration.id, migration.name]);
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#work.close();
    await this.#pool.end();
  }

  async ping(): Promise<void> {
    await this.#rows('SELECT 1');
  }

  async getOrCreateSetting(key: string, candidate: string): Promise<string> {
    await this.#rows('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      key,
      candidate,
    ]);
    return (await this.#row<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]))!.value;
  }

  async syncCatalog(catalog: CatalogInput): Promise<void> {
    await this.#tx(async (q) => {
      // Instances starting together would otherwise interleave the deletes and inserts below.
      await q('SELECT pg_advisory_xact_lock($1, $2)', LOCK_CATALOG);
      for (const org of catalog.organizations) {
        await q(
          `INSERT INTO organizations (id, name, alert_email, alert_webhooks, rate_limit)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, alert_email = excluded.alert_email,
             alert_webhooks = excluded.alert_webhooks, rate_limit = excluded.rate_limit`,
          [
            org.id,
            org.name,
            org.alertEmail ?? null,
            JSON.stringify(org.alertWebhooks ?? []),
            org.rateLimit ?? null,
          ],
        );
        await q('DELETE FROM platform_keys WHERE org_id = $1', [org.id]);
        await q('DELETE FROM subscriptions WHERE org_id = $1', [org.id]);
      }
      for (const key of catalog.platformKeys)
        await q(
          `INSERT INTO platform_keys (key_digest, org_id) VALUES ($1, $2)
           ON CONFLICT (key_digest) DO UPDATE SET org_id = excluded.org_id`,
          [key.keyDigest, key.orgId],
        );
      for (const s of catalog.sources)
        await q(
          `INSERT INTO sources (org_id, id, name, environment, client_id, secret_hash, jwks, jwks_url, disabled)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
             client_id = excluded.client_id, secret_hash = excluded.secret_hash, jwks = excluded.jwks,
             jwks_url = excluded.jwks_url, disabled = excluded.disabled`,
          [
            s.orgId,
            s.id,
            s.name,
            s.environment,
            s.clientId,
            s.secretHash ?? null,
            s.jwks === undefined ? null : JSON.stringify(s.jwks),
            s.jwksUrl ?? null,
            s.disabled ?? false,
          ],
        );
      for (const d of catalog.destinations) {
        await q(
          `INSERT INTO destinations (org_id, id, name, environment, url, fhir_base_url, verification_token,
             signing_secret, timeout_ms, query_timeout_ms, retry_initial_delay_ms, retry_max_delay_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
             url = excluded.url, fhir_base_url = excluded.fhir_base_url,
             verification_token = excluded.verification_token, signing_secret = excluded.signing_secret,
             timeout_ms = excluded.timeout_ms, query_timeout_ms = excluded.query_timeout_ms,
             retry_initial_delay_ms = excluded.retry_initial_delay_ms,
             retry_max_delay_ms = excluded.retry_max_delay_ms`,
          [
            d.orgId,
            d.id,
            d.name,
            d.environment,
            d.url,
            d.fhirBaseUrl ?? null,
            d.verificationToken ?? null,
            d.signingSecret ?? null,
            d.timeoutMs ?? null,
            d.queryTimeoutMs ?? null,
            d.retryInitialDelayMs ?? null,
            d.retryMaxDelayMs ?? null,
          ],
        );
        await q(
          `INSERT INTO queues (org_id, destination_id) VALUES ($1, $2)
           ON CONFLICT (org_id, destination_id) DO NOTHING`,
          [d.orgId, d.id],
        );
      }
      for (const s of catalog.subscriptions)
        await q(
          `INSERT INTO subscriptions (org_id, source_id, data_model, event_types, destination_id)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (org_id, source_id, data_model, destination_id)
           DO UPDATE SET event_types = excluded.event_types`,
          [
            s.orgId,
            s.sourceId,
            s.dataModel,
            s.eventTypes ? JSON.stringify(s.eventTypes) : null,
            s.destinationId,
          ],
        );
    });
  }

  async loadCatalog(): Promise<CatalogSnapshot> {
    const [organizations, platformKeys, sources, destinations, subscriptions] = await Promise.all([
      this.#rows('SELECT id, name, alert_email, alert_webhooks, rate_limit FROM organizations'),
      this.#rows('SELECT key_digest, org_id FROM platform_keys'),
      this.#rows('SELECT * FROM sources'),
      this.#rows('SELECT * FROM destinations'),
      this.#rows('SELECT * FROM subscriptions'),
    ]);
    return toCatalog({ organizations, platformKeys, sources, destinations, subscriptions } as CatalogRows);
  }

  async acceptMessage(message: NewMessage): Promise<AcceptResult> {
    const { idempotency } = message;
    let result: AcceptResult;
    if (!idempotency) {
      // The common case is group-committed with other requests' messages: see message-batch.ts.
      result = { kind: 'accepted', ...(await this.#messages.run(message)) };
    } else {
      const key = [message.orgId, message.sourceId, idempotency.key];
      const seen = await this.#seenKey(key, idempotency.since);
      if (seen) return seen.fingerprint === idempotency.fingerprint ? replayOf(seen) : { kind: 'conflict' };
      const outcome = await this.#tx(async (q): Promise<AcceptResult | 'raced'> => {
        await q(
          'DELETE FROM idempotency_keys WHERE org_id = $1 AND source_id = $2 AND key = $3 AND created_at < $4',
          [...key, idempotency.since],
        );
        const [accepted] = await insertMessages(q, [message]);
        const stored = await q(
          `INSERT INTO idempotency_keys (org_id, source_id, key, fingerprint, answer, message_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1`,
          [...key, idempotency.fingerprint, idempotency.answer, accepted!.messageId, message.receivedAt],
        );
        // A concurrent request with the same key committed first: this one stores nothing.
        if (stored.length === 0) throw new Rollback('raced' as const);
        return { kind: 'accepted', ...accepted! };
      });
      if (outcome === 'raced') {
        const first = await this.#seenKey(key, idempotency.since);
        if (!first) throw new Error('idempotency key vanished while resolving a concurrent request');
        return first.fingerprint === idempotency.fingerprint ? replayOf(first) : { kind: 'conflict' };
      }
      result = outcome;
    }
    if (message.logs.some((l) => l.status === 'pending')) this.#work.signal();
    return result;
  }

  #seenKey(key: unknown[], since: number): Promise<SeenKey | undefined> {
    return this.#row<SeenKey>(
      `SELECT fingerprint, answer, message_id FROM idempotency_keys
       WHERE org_id = $1 AND source_id = $2 AND key = $3 AND created_at >= $4`,
      [...key, since],
    );
  }

  /** The destination queue's next sequence number; its row stays locked until commit. */
  async #nextSeq(q: Query, orgId: string, destinationId: string): Promise<number> {
    const [row] = await q<{ next_seq: number }>(
      `INSERT INTO queues AS q (org_id, destination_id, next_seq) VALUES ($1, $2, 1)
       ON CONFLICT (org_id, destination_id) DO UPDATE SET next_seq = q.next_seq + 1 RETURNING next_seq`,
      [orgId, destinationId],
    );
    return row!.next_seq;
  }

  async claimOnce(kind: string, key: string, expiresAt: number, now: number): Promise<boolean> {
    await this.#rows('DELETE FROM one_time_keys WHERE expires_at <= $1', [now]);
    const rows = await this.#rows(
      `INSERT INTO one_time_keys (kind, key, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (kind, key) DO NOTHING RETURNING 1`,
      [kind, key, expiresAt],
    );
    return rows.length === 1;
  }

  async hasClaim(kind: string, key: string, now: number): Promise<boolean> {
    const rows = await this.#rows(
      'SELECT 1 FROM one_time_keys WHERE kind = $1 AND key = $2 AND expires_at > $3',
      [kind, key, now],
    );
    return rows.length === 1;
  }

  async claimQueues(claim: QueueClaim): Promise<QueueRef[]> {
    const rows = await this.#rows<{ org_id: string; destination_id: string }>(
      `WITH due AS (
         SELECT q.org_id, q.destination_id FROM queues q
         WHERE q.paused_at IS NULL AND (q.lease_owner IS NULL OR q.lease_expires_at <= $2)
           AND (q.org_id, q.destination_id) NOT IN (SELECT * FROM unnest($5::text[], $6::text[]))
           AND ${HEAD_DUE} <= $2
         LIMIT $4
         FOR UPDATE OF q SKIP LOCKED)
       UPDATE queues q SET lease_owner = $1, lease_expires_at = $3 FROM due
       WHERE q.org_id = due.org_id AND q.destination_id = due.destination_id
       RETURNING q.org_id, q.destination_id`,
      [
        claim.owner,
        claim.now,
        claim.leaseUntil,
        claim.limit,
        claim.exclude.map((e) => e.orgId),
        claim.exclude.map((e) => e.destinationId),
      ],
    );
    return rows.map((r) => ({ orgId: r.org_id, destinationId: r.destination_id }));
  }

  async nextDueAt(ignoreOwner?: string): Promise<number | null> {
    const row = await this.#row<{ due: number | null }>(
      `SELECT min(CASE WHEN lease_owner IS NULL THEN head_due ELSE greatest(head_due, lease_expires_at) END) AS due
       FROM (SELECT q.lease_owner, q.lease_expires_at, ${HEAD_DUE} AS head_due FROM queues q
             WHERE q.paused_at IS NULL AND q.lease_owner IS DISTINCT FROM $1) s
       WHERE head_due IS NOT NULL`,
      [ignoreOwner ?? null],
    );
    return row?.due ?? null;
  }

  async headLogs(queue: QueueRef, limit: number): Promise<DeliveryLog[]> {
    const rows = await this.#rows(
      `SELECT l.id, l.message_id, l.org_id, l.destination_id, l.seq, l.test, l.attempt_count, l.next_attempt_id,
         l.next_attempt_at, m.received_at, m.payload
       FROM logs l JOIN messages m ON m.id = l.message_id
       WHERE l.org_id = $1 AND l.destination_id = $2 AND l.status = 'pending'
       ORDER BY l.seq LIMIT $3`,
      [queue.orgId, queue.destinationId, limit],
    );
    return rows.map((r) => ({
      id: r.id as string,
      messageId: r.message_id as number,
      orgId: r.org_id as string,
      destinationId: r.destination_id as string,
      sequence: r.seq as number,
      test: r.test === true,
      attemptCount: r.attempt_count as number,
      nextAttemptId: r.next_attempt_id as string,
      nextAttemptAt: r.next_attempt_at as number,
      receivedAt: r.received_at as number,
      payload: r.payload as string,
    }));
  }

  /** Batched with the other runners' records: see `attempt-batch.ts`. */
  async recordAttempt(record: AttemptRecord): Promise<AttemptResult> {
    const result = await this.#attempts.run(record);
    // A released queue waits for a later retry; an idle instance may take it then.
    if (record.release && result.leaseHeld) this.#work.signal();
    return result;
  }

  async listAlerts(orgId: string, page: Page): Promise<{ alerts: Alert[]; nextCursor: string | null }> {
    const cursor = page.cursor === undefined ? undefined : (decodeCursor(page.cursor) ?? 0);
    const rows = await this.#rows<AlertRow>(
      `SELECT * FROM alerts WHERE org_id = $1 ${cursor === undefined ? '' : 'AND pk < $3'}
       ORDER BY pk DESC LIMIT $2`,
      cursor === undefined ? [orgId, page.limit + 1] : [orgId, page.limit + 1, cursor],
    );
    const alerts = rows.slice(0, page.limit);
    const last = alerts.at(-1);
    return {
      alerts: alerts.map(toAlert),
      nextCursor: rows.length > page.limit && last ? encodeCursor(Number(last.pk)) : null,
    };
  }

  async markAlertSent(alertId: string, channels: AlertChannelResult[], at: number): Promise<void> {
    await this.#rows('UPDATE alerts SET sent_at = $2, channels = $3 WHERE id = $1', [
      alertId,
      at,
      JSON.stringify(channels),
    ]);
  }

  async unsentAlerts(limit: number): Promise<Alert[]> {
    const rows = await this.#rows<AlertRow>(
      'SELECT * FROM alerts WHERE sent_at IS NULL ORDER BY pk LIMIT $1',
      [limit],
    );
    return rows.map(toAlert);
  }

  /**
   * Several instances may purge at once: SKIP LOCKED lets each take logs the others are not
   * deleting. A message goes in a second statement, once the first has committed, so its NOT
   * EXISTS sees every log that still refers to it (a manual retry made meanwhile keeps it).
   */
  async purge({ before, idempotencyBefore, limit }: PurgeCut): Promise<PurgeResult> {
    const [deleted] = await this.#rows<{ logs: number; message_ids: (number | string)[] | null }>(
      `WITH doomed AS (
         SELECT pk, id, message_id FROM logs
         WHERE status <> 'pending' AND created_at < $1 AND updated_at < $1
         ORDER BY pk LIMIT $2 FOR UPDATE SKIP LOCKED),
       a AS (DELETE FROM attempts WHERE log_id IN (SELECT id FROM doomed)),
       l AS (DELETE FROM logs WHERE pk IN (SELECT pk FROM doomed) RETURNING message_id)
       SELECT count(*)::int AS logs, array_agg(DISTINCT message_id) AS message_ids FROM l`,
      [before, limit],
    );
    const messageIds = (deleted?.message_ids ?? []).map(Number);
    const messages =
      messageIds.length === 0
        ? 0
        : await this.#deleted(
            `DELETE FROM messages m WHERE m.id = ANY($1::bigint[])
               AND NOT EXISTS (SELECT 1 FROM logs WHERE message_id = m.id)`,
            [messageIds],
          );
    const alerts = await this.#deleted(
      `DELETE FROM alerts WHERE pk IN (SELECT pk FROM alerts WHERE created_at < $1 ORDER BY pk LIMIT $2
         FOR UPDATE SKIP LOCKED)`,
      [before, limit],
    );
    const idempotencyKeys = await this.#deleted(
      `DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < $1
         LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [idempotencyBefore, limit],
    );
    return { logs: Number(deleted?.logs ?? 0), messages, alerts, idempotencyKeys };
  }

  /** Runs a DELETE and answers how many rows it removed, counted in the database. */
  async #deleted(deleteSql: string, params: unknown[]): Promise<number> {
    const [row] = await this.#rows<{ n: number }>(
      `WITH d AS (${deleteSql} RETURNING 1) SELECT count(*)::int AS n FROM d`,
      params,
    );
    return Number(row?.n ?? 0);
  }

  async renewLeases(owner: string, queues: QueueRef[], until: number): Promise<void> {
    if (queues.length === 0) return;
    await this.#rows(
      `UPDATE queues q SET lease_expires_at = $4
       FROM unnest($2::text[], $3::text[]) AS u(org_id, destination_id)
       WHERE q.org_id = u.org_id AND q.destination_id = u.destination_id AND q.lease_owner = $1`,
      [owner, queues.map((r) => r.orgId), queues.map((r) => r.destinationId), until],
    );
  }

  async releaseQueue(owner: string, queue: QueueRef): Promise<void> {
    const rows = await this.#rows(
      `UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL
       WHERE org_id = $1 AND destination_id = $2 AND lease_owner = $3 RETURNING 1`,
      [queue.orgId, queue.destinationId, owner],
    );
    if (rows.length > 0) this.#work.signal();
  }

  async releaseLeases(owner?: string): Promise<void> {
    const rows = await this.#rows(
      owner === undefined
        ? 'UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL RETURNING 1'
        : 'UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1 RETURNING 1',
      owner === undefined ? [] : [owner],
    );
    if (rows.length > 0) this.#work.signal();
  }

  async searchLogs(
    orgId: string,
    filter: LogFilter,
    page: Page,
    now: number,
  ): Promise<{ logs: Log[]; nextCursor: string | null }> {
    const params: unknown[] = [orgId];
    const where = ['l.org_id = $1'];
    const add = (sql: (p: string) => string, value: unknown): void => {
      if (value === undefined) return;
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    add((p) => `l.status = ${p}`, filter.status);
    add((p) => `l.data_model = ${p}`, filter.dataModel);
    add((p) => `l.event_type = ${p}`, filter.eventType);
    add((p) => `l.source_id = ${p}`, filter.sourceId);
    add((p) => `l.destination_id = ${p}`, filter.destinationId);
    add((p) => `l.test = ${p}`, filter.test);
    add((p) => `l.message_id = ${p}`, filter.messageId);
    add((p) => `l.created_at >= ${p}`, filter.from);
    add((p) => `l.created_at <= ${p}`, filter.to);
    add((p) => `strpos((SELECT m.payload FROM messages m WHERE m.id = l.message_id), ${p}) > 0`, filter.q);
    add((p) => `l.pk < ${p}`, page.cursor === undefined ? undefined : (decodeCursor(page.cursor) ?? 0));
    params.push(page.limit + 1);
    const rows = await this.#rows<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE ${where.join(' AND ')}
       ORDER BY l.pk DESC LIMIT $${params.length}`,
      params,
    );
    const more = rows.length > page.limit;
    const logs = rows.slice(0, page.limit);
    const last = logs.at(-1);
    return {
      logs: logs.map((r) => toLog(r, now)),
      nextCursor: more && last ? encodeCursor(Number(last.pk)) : null,
    };
  }

  async #log(orgId: string, logId: string, now: number): Promise<Log | undefined> {
    const row = await this.#row<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE l.id = $1 AND l.org_id = $2`,
      [logId, orgId],
    );
    return row && toLog(row, now);
  }

  async getLog(orgId: string, logId: string, now: number): Promise<LogDetail | undefined> {
    const log = await this.#log(orgId, logId, now);
    if (!log) return undefined;
    const [message, attempts, related] = await Promise.all([
      this.#row<{ payload: string }>('SELECT payload FROM messages WHERE id = $1', [log.messageId]),
      this.#rows<AttemptRow>('SELECT * FROM attempts WHERE log_id = $1 ORDER BY number', [log.id]),
      this.#rows<LogRow>(
        `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE l.message_id = $1 AND l.id <> $2 ORDER BY l.pk`,
        [log.messageId, log.id],
      ),
    ]);
    return {
      log,
      payload: JSON.parse(message!.payload) as unknown,
      attempts: attempts.map(toAttempt),
      related: related.map((r) => toLog(r, now)),
    };
  }

  async retryLog(
    orgId: string,
    logId: string,
    newLog: { id: string; firstAttemptId: string },
    now: number,
  ): Promise<Log | undefined> {
    const created = await this.#tx(async (q) => {
      const [original] = await q('SELECT * FROM logs WHERE id = $1 AND org_id = $2', [logId, orgId]);
      if (!original || original.destination_id === null) return false;
      const destinationId = original.destination_id as string;
      const seq = await this.#nextSeq(q, orgId, destinationId);
      await q(
        `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
           seq, status, next_attempt_id, next_attempt_at, retry_of, created_at, updated_at)
         VALUES ($1, $2, $3, 'send', $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $11, $11)`,
        [
          newLog.id,
          original.message_id,
          orgId,
          original.source_id,
          destinationId,
          original.data_model,
          original.event_type,
          original.test,
          seq,
          newLog.firstAttemptId,
          now,
          logId,
        ],
      );
      return true;
    });
    if (!created) return undefined;
    this.#work.signal();
    return this.#log(orgId, newLog.id, now);
  }

  async getQueue(orgId: string, destinationId: string, now: number): Promise<QueueView | undefined> {
    const queue = await this.#row('SELECT * FROM queues WHERE org_id = $1 AND destination_id = $2', [
      orgId,
      destinationId,
    ]);
    if (!queue) return undefined;
    const [stats, headRow] = await Promise.all([
      this.#row<{ depth: number; oldest: number | null }>(
        `SELECT count(*) AS depth, min(created_at) AS oldest FROM logs
         WHERE org_id = $1 AND destination_id = $2 AND status = 'pending'`,
        [orgId, destinationId],
      ),
      this.#row<LogRow>(
        `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM}
         WHERE l.org_id = $1 AND l.destination_id = $2 AND l.status = 'pending' ORDER BY l.seq LIMIT 1`,
        [orgId, destinationId],
      ),
    ]);
    const head = headRow ? toLog(headRow, now) : null;
    const lastFailure = head
      ? await this.#row<AttemptRow>(
          `SELECT * FROM attempts WHERE log_id = $1 AND outcome = 'failed' ORDER BY number DESC LIMIT 1`,
          [head.id],
        )
      : undefined;
    const pausedAt = queue.paused_at as number | null;
    return {
      destinationId,
      state: pausedAt !== null ? 'paused' : head && head.attemptCount > 0 ? 'blocked' : 'active',
      depth: stats?.depth ?? 0,
      oldestQueuedAt: stats?.oldest ?? null,
      head,
      lastError: lastFailure
        ? {
            attemptId: lastFailure.id,
            at: Number(lastFailure.started_at),
            statusCode: lastFailure.status_code,
            error: lastFailure.error,
          }
        : null,
      paused:
        pausedAt !== null
          ? { by: queue.paused_by as string, reason: queue.paused_reason as string | null, at: pausedAt }
          : null,
    };
  }

  async setQueuePaused(orgId: string, destinationId: string, pause: PauseInfo | null): Promise<boolean> {
    const rows = await this.#rows(
      `UPDATE queues SET paused_by = $3, paused_reason = $4, paused_at = $5
       WHERE org_id = $1 AND destination_id = $2 RETURNING 1`,
      [orgId, destinationId, pause?.by ?? null, pause?.reason ?? null, pause?.at ?? null],
    );
    if (rows.length === 0) return false;
    if (pause === null) this.#work.signal();
    return true;
  }

  async skipHead(orgId: string, destinationId: string, pause: PauseInfo): Promise<SkipResult> {
    const result = await this.#tx(async (q): Promise<SkipResult | { id: string }> => {
      const [queue] = await q<{ paused_at: number | null }>(
        'SELECT paused_at FROM queues WHERE org_id = $1 AND destination_id = $2 FOR UPDATE',
        [orgId, destinationId],
      );
      if (!queue) return { error: 'not_found' };
      if (queue.paused_at === null) return { error: 'not_paused' };
      const [head] = await q<{ id: string }>(
        `SELECT id FROM logs WHERE org_id = $1 AND destination_id = $2 AND status = 'pending'
         ORDER BY seq LIMIT 1`,
        [orgId, destinationId],
      );
      if (!head) return { error: 'empty' };
      await q(
        `UPDATE logs SET status = 'failed', next_attempt_at = NULL, failed_reason = $2, updated_at = $3
         WHERE id = $1`,
        [head.id, `Skipped by ${pause.by}${pause.reason ? `: ${pause.reason}` : ''}`, pause.at],
      );
      return { id: head.id };
    });
    if ('error' in result || 'skipped' in result) return result;
    return { skipped: (await this.#log(orgId, result.id, pause.at))! };
  }

  async recordQuery(query: QueryRecord): Promise<void> {
    const finishedAt = query.attempt.startedAt + query.attempt.durationMs;
    // One statement, so one round trip and one transaction.
    await this.#rows(
      `WITH m AS (
         INSERT INTO messages (org_id, source_id, payload, received_at) VALUES ($1, $2, $3, $4) RETURNING id),
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
        query.payload,
        query.receivedAt,
        query.log.id,
        query.log.destinationId,
        query.dataModel,
        query.eventType,
        query.test,
        query.log.status,
        query.log.failedReason,
        finishedAt,
        ...attemptValues(query.attempt),
      ],
    );
  }
}

const names = new Map<string, string>();

/**
 * A query with parameters runs as a named prepared statement: each connection parses and plans
 * it once, which is most of PostgreSQL's work for the short statements of the delivery path.
 * Statements without parameters (migrations hold several) go as simple queries.
 */
function statement(sql: string, params?: unknown[]): pg.QueryConfig {
  if (!params || params.length === 0) return { text: sql };
  let name = names.get(sql);
  if (!name) {
    name = `sb_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    names.set(sql, name);
  }
  return { name, text: sql, values: clean(params) };
}

interface SeenKey {
  fingerprint: string;
  answer: string;
  message_id: number;
}

function replayOf(seen: SeenKey): AcceptResult {
  return {
    kind: 'replayed',
    answer: seen.answer,
    messageId: seen.message_id,
    transmissionId: seen.message_id,
  };
}

function attemptValues(attempt: Attempt): unknown[] {
  return [
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
  ];
}
