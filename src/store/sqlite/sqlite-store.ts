import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import type { CatalogSnapshot, Environment } from '../../models/entities.ts';
import type { Attempt, Log, LogDetail, LogFilter, QueueView } from '../../models/log.ts';
import type { Alert, AlertChannelResult } from '../../models/alert.ts';
import {
  decodeCursor,
  encodeCursor,
  toAlert,
  toAttempt,
  toLog,
  type AlertRow,
  type AttemptRow,
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
  QueueClaim,
  QueryRecord,
  QueueRef,
  SkipResult,
  Store,
} from '../store.ts';
import { GroupCommit } from './group-commit.ts';
import { positionalArgs, preparePositional, type PositionalStatement } from './positional.ts';
import { MIGRATIONS } from './migrations.ts';

type Params = Record<string, SQLInputValue>;
type Row = Record<string, unknown>;

const LOG_COLUMNS = `l.pk, l.id, l.message_id, l.org_id, l.type, l.source_id, l.destination_id, l.data_model,
  l.event_type, l.test, l.seq, l.status, l.attempt_count, l.next_attempt_at, l.retry_of, l.failed_reason,
  l.created_at, l.updated_at, q.lease_owner, q.lease_expires_at,
  (SELECT h.seq FROM logs h WHERE h.org_id = l.org_id AND h.destination_id = l.destination_id
     AND h.seq >= q.pending_from AND h.status = 'pending' ORDER BY h.seq LIMIT 1) AS head_seq`;
const LOG_FROM = `logs l LEFT JOIN queues q ON q.org_id = l.org_id AND q.destination_id = l.destination_id`;
const HEAD_DUE = `(SELECT l.next_attempt_at FROM logs l WHERE l.org_id = q.org_id
  AND l.destination_id = q.destination_id AND l.seq >= q.pending_from AND l.status = 'pending'
  ORDER BY l.seq LIMIT 1)`;
/**
 * After the log with seq `:seq` of a queue left `pending`: moves the queue's `pending_from` past
 * it when no pending log is left below it (always so for the head, the only log that normally
 * leaves). `pending_from` stays a lower bound otherwise, and catches up at the next head.
 */
const ADVANCE_PENDING_FROM = `UPDATE queues SET pending_from = :seq + 1
  WHERE org_id = :orgId AND destination_id = :destinationId AND pending_from <= :seq
    AND NOT EXISTS (SELECT 1 FROM logs p WHERE p.org_id = queues.org_id
      AND p.destination_id = queues.destination_id AND p.seq >= queues.pending_from AND p.seq < :seq
      AND p.status = 'pending')`;

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, written through
 * group commit. node:sqlite is synchronous, so every statement runs to completion on the event
 * loop; reads are microseconds and writes are batched per turn of the loop.
 */
export class SqliteStore implements Store {
  readonly capabilities = { multipleWriters: false };
  readonly #db: DatabaseSync;
  readonly #writes: GroupCommit;
  readonly #statements = new Map<string, PositionalStatement>();

  /**
   * `checkpoints: 'external'`: this connection never checkpoints the WAL; another connection
   * must (see checkpointer.ts). By default SQLite checkpoints at commits past 1,000 WAL pages.
   */
  constructor(path: string, options: { checkpoints?: 'auto' | 'external' } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
      PRAGMA foreign_keys = ON;`);
    if (options.checkpoints === 'external') this.#db.exec('PRAGMA wal_autocheckpoint = 0');
    this.#writes = new GroupCommit(this.#db);
  }

  #sql(sql: string): PositionalStatement {
    let prepared = this.#statements.get(sql);
    if (!prepared) {
      prepared = preparePositional(this.#db, sql);
      this.#statements.set(sql, prepared);
    }
    return prepared;
  }

  #get<T = Row>(sql: string, params: Params = {}): T | undefined {
    const prepared = this.#sql(sql);
    return prepared.statement.get(...positionalArgs(prepared, params)) as T | undefined;
  }

  #all<T = Row>(sql: string, params: Params = {}): T[] {
    const prepared = this.#sql(sql);
    return prepared.statement.all(...positionalArgs(prepared, params)) as T[];
  }

  #run(sql: string, params: Params = {}): number {
    const prepared = this.#sql(sql);
    return Number(prepared.statement.run(...positionalArgs(prepared, params)).changes);
  }

  async migrate(): Promise<void> {
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)',
    );
    const done = new Set(this.#all<{ id: number }>('SELECT id FROM schema_migrations').map((r) => r.id));
    for (const migration of MIGRATIONS) {
      if (done.has(migration.id)) continue;
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        this.#db.exec(migration.sql);
        this.#run('INSERT INTO schema_migrations (id, name) VALUES (:id, :name)', {
          id: migration.id,
          name: migration.name,
        });
        this.#db.exec('COMMIT');
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    }
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    this.#writes.close();
    this.#db.close();
  }

  async ping(): Promise<void> {
    this.#get('SELECT 1');
  }

  async getOrCreateSetting(key: string, candidate: string): Promise<string> {
    return this.#writes.run(() => {
      this.#run('INSERT INTO settings (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING', {
        key,
        value: candidate,
      });
      return this.#get<{ value: string }>('SELECT value FROM settings WHERE key = :key', { key })!.value;
    });
  }

  async syncCatalog(catalog: CatalogInput): Promise<void> {
    await this.#writes.run(() => {
      for (const org of catalog.organizations) {
        this.#run(
          `INSERT INTO organizations (id, name, alert_email, alert_webhooks, rate_limit)
           VALUES (:id, :name, :alertEmail, :alertWebhooks, :rateLimit)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, alert_email = excluded.alert_email,
             alert_webhooks = excluded.alert_webhooks, rate_limit = excluded.rate_limit`,
          {
            id: org.id,
            name: org.name,
            alertEmail: org.alertEmail ?? null,
            alertWebhooks: JSON.stringify(org.alertWebhooks ?? []),
            rateLimit: org.rateLimit ?? null,
          },
        );
        this.#run('DELETE FROM platform_keys WHERE org_id = :orgId', { orgId: org.id });
        this.#run('DELETE FROM subscriptions WHERE org_id = :orgId', { orgId: org.id });
      }
      for (const key of catalog.platformKeys)
        this.#run(
          'INSERT OR REPLACE INTO platform_keys (key_digest, org_id) VALUES (:keyDigest, :orgId)',
          key,
        );
      for (const s of catalog.sources)
        this.#run(
          `INSERT INTO sources (org_id, id, name, environment, client_id, secret_hash, jwks, jwks_url, disabled)
           VALUES (:orgId, :id, :name, :environment, :clientId, :secretHash, :jwks, :jwksUrl, :disabled)
           ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
             client_id = excluded.client_id, secret_hash = excluded.secret_hash, jwks = excluded.jwks,
             jwks_url = excluded.jwks_url, disabled = excluded.disabled`,
          {
            orgId: s.orgId,
            id: s.id,
            name: s.name,
            environment: s.environment,
            clientId: s.clientId,
            secretHash: s.secretHash ?? null,
            jwks: s.jwks === undefined ? null : JSON.stringify(s.jwks),
            jwksUrl: s.jwksUrl ?? null,
            disabled: s.disabled ? 1 : 0,
          },
        );
      for (const d of catalog.destinations) {
        this.#run(
          `INSERT INTO destinations (org_id, id, name, environment, url, fhir_base_url, verification_token,
             signing_secret, timeout_ms, query_timeout_ms, retry_initial_delay_ms, retry_max_delay_ms)
           VALUES (:orgId, :id, :name, :environment, :url, :fhirBaseUrl, :verificationToken, :signingSecret,
             :timeoutMs, :queryTimeoutMs, :retryInitialDelayMs, :retryMaxDelayMs)
           ON CONFLICT (org_id, id) DO UPDATE SET name = excluded.name, environment = excluded.environment,
             url = excluded.url, fhir_base_url = excluded.fhir_base_url,
             verification_token = excluded.verification_token, signing_secret = excluded.signing_secret,
             timeout_ms = excluded.timeout_ms, query_timeout_ms = excluded.query_timeout_ms,
             retry_initial_delay_ms = excluded.retry_initial_delay_ms,
             retry_max_delay_ms = excluded.retry_max_delay_ms`,
          {
            orgId: d.orgId,
            id: d.id,
            name: d.name,
            environment: d.environment,
            url: d.url,
            fhirBaseUrl: d.fhirBaseUrl ?? null,
            verificationToken: d.verificationToken ?? null,
            signingSecret: d.signingSecret ?? null,
            timeoutMs: d.timeoutMs ?? null,
            queryTimeoutMs: d.queryTimeoutMs ?? null,
            retryInitialDelayMs: d.retryInitialDelayMs ?? null,
            retryMaxDelayMs: d.retryMaxDelayMs ?? null,
          },
        );
        this.#run(
          `INSERT INTO queues (org_id, destination_id) VALUES (:orgId, :id)
           ON CONFLICT (org_id, destination_id) DO NOTHING`,
          { orgId: d.orgId, id: d.id },
        );
      }
      for (const s of catalog.subscriptions)
        this.#run(
          `INSERT OR REPLACE INTO subscriptions (org_id, source_id, data_model, event_types, destination_id)
           VALUES (:orgId, :sourceId, :dataModel, :eventTypes, :destinationId)`,
          {
            orgId: s.orgId,
            sourceId: s.sourceId,
            dataModel: s.dataModel,
            eventTypes: s.eventTypes ? JSON.stringify(s.eventTypes) : null,
            destinationId: s.destinationId,
          },
        );
    });
  }

  async loadCatalog(): Promise<CatalogSnapshot> {
    const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);
    return {
      organizations: this.#all<{
        id: string;
        name: string;
        alert_email: string | null;
        alert_webhooks: string;
        rate_limit: number | null;
      }>('SELECT id, name, alert_email, alert_webhooks, rate_limit FROM organizations').map((r) => ({
        id: r.id,
        name: r.name,
        alertEmail: opt(r.alert_email),
        alertWebhooks: JSON.parse(r.alert_webhooks) as string[],
        rateLimit: opt(r.rate_limit),
      })),
      platformKeys: this.#all<{ key_digest: string; org_id: string }>(
        'SELECT key_digest, org_id FROM platform_keys',
      ).map((r) => ({ keyDigest: r.key_digest, orgId: r.org_id })),
      sources: this.#all<Row>('SELECT * FROM sources').map((r) => ({
        orgId: r.org_id as string,
        id: r.id as string,
        name: r.name as string,
        environment: r.environment as Environment,
        clientId: r.client_id as string,
        secretHash: opt(r.secret_hash as string | null),
        jwks: r.jwks === null ? undefined : (JSON.parse(r.jwks as string) as unknown),
        jwksUrl: opt(r.jwks_url as string | null),
        disabled: r.disabled === 1,
      })),
      destinations: this.#all<Row>('SELECT * FROM destinations').map((r) => ({
        orgId: r.org_id as string,
        id: r.id as string,
        name: r.name as string,
        environment: r.environment as Environment,
        url: r.url as string,
        fhirBaseUrl: opt(r.fhir_base_url as string | null),
        verificationToken: opt(r.verification_token as string | null),
        signingSecret: opt(r.signing_secret as string | null),
        timeoutMs: opt(r.timeout_ms as number | null),
        queryTimeoutMs: opt(r.query_timeout_ms as number | null),
        retryInitialDelayMs: opt(r.retry_initial_delay_ms as number | null),
        retryMaxDelayMs: opt(r.retry_max_delay_ms as number | null),
      })),
      subscriptions: this.#all<Row>('SELECT * FROM subscriptions').map((r) => ({
        orgId: r.org_id as string,
        sourceId: r.source_id as string,
        dataModel: r.data_model as string,
        eventTypes: r.event_types === null ? undefined : (JSON.parse(r.event_types as string) as string[]),
        destinationId: r.destination_id as string,
      })),
    };
  }

  acceptMessage(message: NewMessage): Promise<AcceptResult> {
    return this.#writes.run((): AcceptResult => {
      const { idempotency } = message;
      const key = idempotency && { orgId: message.orgId, sourceId: message.sourceId, key: idempotency.key };
      if (idempotency && key) {
        this.#run(
          `DELETE FROM idempotency_keys
           WHERE org_id = :orgId AND source_id = :sourceId AND key = :key AND created_at < :since`,
          { ...key, since: idempotency.since },
        );
        const seen = this.#get<{ fingerprint: string; answer: string; message_id: number }>(
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
      }
      const { id } = this.#get<{ id: number }>(
        `INSERT INTO messages (org_id, source_id, payload, received_at)
         VALUES (:orgId, :sourceId, :payload, :receivedAt) RETURNING id`,
        {
          orgId: message.orgId,
          sourceId: message.sourceId,
          payload: message.payload,
          receivedAt: message.receivedAt,
        },
      )!;
      const logs = message.logs.map((log) => {
        const sequence = log.destinationId === null ? null : this.#nextSeq(message.orgId, log.destinationId);
        this.#run(
          `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
             seq, status, next_attempt_id, next_attempt_at, failed_reason, created_at, updated_at)
           VALUES (:id, :messageId, :orgId, :type, :sourceId, :destinationId, :dataModel, :eventType, :test,
             :seq, :status, :nextAttemptId, :nextAttemptAt, :failedReason, :now, :now)`,
          {
            id: log.id,
            messageId: id,
            orgId: message.orgId,
            type: message.type,
            sourceId: message.sourceId,
            destinationId: log.destinationId,
            dataModel: message.dataModel,
            eventType: message.eventType,
            test: message.test ? 1 : 0,
            seq: sequence,
            status: log.status,
            nextAttemptId: log.firstAttemptId,
            nextAttemptAt: log.status === 'pending' ? message.receivedAt : null,
            failedReason: log.failedReason ?? null,
            now: message.receivedAt,
          },
        );
        return { id: log.id, destinationId: log.destinationId, sequence };
      });
      const accepted: AcceptedMessage = { messageId: id, transmissionId: id, logs };
      if (!idempotency || !key) return { kind: 'accepted', ...accepted };
      this.#run(
        `INSERT INTO idempotency_keys (org_id, source_id, key, fingerprint, answer, message_id, created_at)
         VALUES (:orgId, :sourceId, :key, :fingerprint, :answer, :messageId, :createdAt)`,
        {
          ...key,
          fingerprint: idempotency.fingerprint,
          answer: idempotency.answer,
          messageId: id,
          createdAt: message.receivedAt,
        },
      );
      return { kind: 'accepted', ...accepted };
    });
  }

  claimOnce(kind: string, key: string, expiresAt: number, now: number): Promise<boolean> {
    return this.#writes.run(() => {
      this.#run('DELETE FROM one_time_keys WHERE expires_at <= :now', { now });
      return (
        this.#run(
          `INSERT INTO one_time_keys (kind, key, expires_at) VALUES (:kind, :key, :expiresAt)
           ON CONFLICT (kind, key) DO NOTHING`,
          { kind, key, expiresAt },
        ) === 1
      );
    });
  }

  async hasClaim(kind: string, key: string, now: number): Promise<boolean> {
    return (
      this.#get('SELECT 1 FROM one_time_keys WHERE kind = :kind AND key = :key AND expires_at > :now', {
        kind,
        key,
        now,
      }) !== undefined
    );
  }

  #nextSeq(orgId: string, destinationId: string): number {
    return this.#get<{ next_seq: number }>(
      `INSERT INTO queues (org_id, destination_id, next_seq) VALUES (:orgId, :destinationId, 1)
       ON CONFLICT (org_id, destination_id) DO UPDATE SET next_seq = next_seq + 1 RETURNING next_seq`,
      { orgId, destinationId },
    )!.next_seq;
  }

  async claimQueues(claim: QueueClaim): Promise<QueueRef[]> {
    const excluded = new Set(claim.exclude.map(queueKey));
    const candidates = this.#all<{ org_id: string; destination_id: string }>(
      `SELECT q.org_id, q.destination_id FROM queues q
       WHERE q.paused_at IS NULL AND (q.lease_owner IS NULL OR q.lease_expires_at <= :now)
         AND ${HEAD_DUE} <= :now
       LIMIT :limit`,
      { now: claim.now, limit: claim.limit + excluded.size },
    )
      .map((r) => ({ orgId: r.org_id, destinationId: r.destination_id }))
      .filter((q) => !excluded.has(queueKey(q)))
      .slice(0, claim.limit);
    if (candidates.length === 0) return [];
    return this.#writes.run(() =>
      candidates.filter(
        (q) =>
          this.#run(
            `UPDATE queues SET lease_owner = :owner, lease_expires_at = :until
             WHERE org_id = :orgId AND destination_id = :destinationId AND paused_at IS NULL
               AND (lease_owner IS NULL OR lease_expires_at <= :now OR lease_owner = :owner)`,
            { ...q, owner: claim.owner, until: claim.leaseUntil, now: claim.now },
          ) === 1,
      ),
    );
  }

  async nextDueAt(ignoreOwner?: string): Promise<number | null> {
    const row = this.#get<{ due: number | null }>(
      `SELECT min(CASE WHEN lease_owner IS NULL THEN head_due ELSE max(head_due, lease_expires_at) END) AS due
       FROM (SELECT q.lease_owner, q.lease_expires_at, ${HEAD_DUE} AS head_due FROM queues q
             WHERE q.paused_at IS NULL AND (q.lease_owner IS NULL OR q.lease_owner <> :ignoreOwner))
       WHERE head_due IS NOT NULL`,
      { ignoreOwner: ignoreOwner ?? null },
    );
    return row?.due ?? null;
  }

  async headLogs(queue: QueueRef, limit: number): Promise<DeliveryLog[]> {
    return this.#all<Row>(
      `SELECT l.id, l.message_id, l.org_id, l.destination_id, l.seq, l.test, l.attempt_count, l.next_attempt_id,
         l.next_attempt_at, m.received_at, m.payload
       FROM queues q JOIN logs l ON l.org_id = q.org_id AND l.destination_id = q.destination_id
         JOIN messages m ON m.id = l.message_id
       WHERE q.org_id = :orgId AND q.destination_id = :destinationId AND l.seq >= q.pending_from
         AND l.status = 'pending'
       ORDER BY l.seq LIMIT :limit`,
      { ...queue, limit },
    ).map((r) => ({
      id: r.id as string,
      messageId: r.message_id as number,
      orgId: r.org_id as string,
      destinationId: r.destination_id as string,
      sequence: r.seq as number,
      test: r.test === 1,
      attemptCount: r.attempt_count as number,
      nextAttemptId: r.next_attempt_id as string,
      nextAttemptAt: r.next_attempt_at as number,
      receivedAt: r.received_at as number,
      payload: r.payload as string,
    }));
  }

  #insertAttempt(attempt: Attempt): void {
    this.#run(
      `INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code,
         response_excerpt, error, outcome)
       VALUES (:id, :logId, :number, :startedAt, :durationMs, :requestUrl, :statusCode, :responseExcerpt,
         :error, :outcome)`,
      { ...attempt },
    );
  }

  recordAttempt(record: AttemptRecord): Promise<AttemptResult> {
    return this.#writes.run(() => {
      const { attempt, log, queue } = record;
      const row = this.#get<{
        lease_owner: string | null;
        paused_at: number | null;
        alert_log_id: string | null;
      }>(
        `SELECT lease_owner, paused_at, alert_log_id FROM queues
         WHERE org_id = :orgId AND destination_id = :destinationId`,
        { ...queue },
      );
      const paused = row?.paused_at != null;
      // The queue was taken over (its lease had expired): the new owner's attempt is the record.
      if (row?.lease_owner !== record.owner) return { leaseHeld: false, paused };
      this.#insertAttempt(attempt);
      const updated = this.#get<{ attempt_count: number; seq: number }>(
        `UPDATE logs SET status = :status, attempt_count = attempt_count + 1, next_attempt_at = :nextAttemptAt,
           next_attempt_id = :nextAttemptId, failed_reason = :failedReason, updated_at = :now
         WHERE id = :id RETURNING attempt_count, seq`,
        { ...log, id: attempt.logId, now: attempt.startedAt + attempt.durationMs },
      );
      if (updated && log.status !== 'pending')
        this.#run(ADVANCE_PENDING_FROM, { ...queue, seq: updated.seq });
      // The lease is only written to give it back: the dispatcher's renew loop keeps it alive.
      if (record.release)
        this.#run(
          `UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL
           WHERE org_id = :orgId AND destination_id = :destinationId`,
          { ...queue },
        );
      const alert = this.#raiseAlert(record, row.alert_log_id, updated?.attempt_count ?? attempt.number);
      return { leaseHeld: true, paused, ...(alert ? { alert } : {}) };
    });
  }

  /** SPEC 5.5, inside recordAttempt's transaction: see `AttemptRecord.alert`. */
  #raiseAlert(record: AttemptRecord, openAlertLog: string | null, attempts: number): Alert | undefined {
    const { attempt, queue } = record;
    let kind: Alert['kind'];
    if (attempt.outcome === 'failed') {
      if (openAlertLog !== null || attempts < record.alert.afterAttempts) return undefined;
      kind = 'failing';
    } else {
      if (openAlertLog === null) return undefined;
      kind = 'recovered';
    }
    this.#run(
      'UPDATE queues SET alert_log_id = :logId WHERE org_id = :orgId AND destination_id = :destinationId',
      { ...queue, logId: kind === 'failing' ? attempt.logId : null },
    );
    const row = {
      id: record.alert.id,
      orgId: queue.orgId,
      destinationId: queue.destinationId,
      logId: attempt.logId,
      kind,
      attempts,
      error: kind === 'failing' ? describeFailure(attempt) : null,
      createdAt: attempt.startedAt + attempt.durationMs,
    };
    this.#run(
      `INSERT INTO alerts (id, org_id, destination_id, log_id, kind, attempts, error, created_at)
       VALUES (:id, :orgId, :destinationId, :logId, :kind, :attempts, :error, :createdAt)`,
      row,
    );
    return { ...row, sentAt: null, channels: [] };
  }

  async listAlerts(orgId: string, page: Page): Promise<{ alerts: Alert[]; nextCursor: string | null }> {
    const cursor = page.cursor === undefined ? undefined : (decodeCursor(page.cursor) ?? 0);
    const rows = this.#all<AlertRow>(
      `SELECT * FROM alerts WHERE org_id = :orgId ${cursor === undefined ? '' : 'AND pk < :cursor'}
       ORDER BY pk DESC LIMIT :limit`,
      { orgId, limit: page.limit + 1, ...(cursor === undefined ? {} : { cursor }) },
    );
    const alerts = rows.slice(0, page.limit);
    const last = alerts.at(-1);
    return {
      alerts: alerts.map(toAlert),
      nextCursor: rows.length > page.limit && last ? encodeCursor(Number(last.pk)) : null,
    };
  }

  async markAlertSent(alertId: string, channels: AlertChannelResult[], at: number): Promise<void> {
    await this.#writes.run(() =>
      this.#run('UPDATE alerts SET sent_at = :at, channels = :channels WHERE id = :id', {
        id: alertId,
        at,
        channels: JSON.stringify(channels),
      }),
    );
  }

  async unsentAlerts(limit: number): Promise<Alert[]> {
    return this.#all<AlertRow>('SELECT * FROM alerts WHERE sent_at IS NULL ORDER BY pk LIMIT :limit', {
      limit,
    }).map(toAlert);
  }

  purge({ before, idempotencyBefore, limit }: PurgeCut): Promise<PurgeResult> {
    return this.#writes.run((): PurgeResult => {
      const doomed = this.#all<{ pk: number; id: string; message_id: number }>(
        `SELECT pk, id, message_id FROM logs
         WHERE status <> 'pending' AND created_at < :before AND updated_at < :before
         ORDER BY pk LIMIT :limit`,
        { before, limit },
      );
      const messageIds = new Set<number>();
      for (const log of doomed) {
        this.#run('DELETE FROM attempts WHERE log_id = :id', { id: log.id });
        this.#run('DELETE FROM logs WHERE pk = :pk', { pk: log.pk });
        messageIds.add(log.message_id);
      }
      let messages = 0;
      for (const id of messageIds)
        messages += this.#run(
          'DELETE FROM messages WHERE id = :id AND NOT EXISTS (SELECT 1 FROM logs WHERE message_id = :id)',
          { id },
        );
      const alerts = this.#run(
        `DELETE FROM alerts WHERE pk IN (SELECT pk FROM alerts WHERE created_at < :before ORDER BY pk LIMIT :limit)`,
        { before, limit },
      );
      const idempotencyKeys = this.#run(
        `DELETE FROM idempotency_keys WHERE rowid IN
           (SELECT rowid FROM idempotency_keys WHERE created_at < :idempotencyBefore LIMIT :limit)`,
        { idempotencyBefore, limit },
      );
      return { logs: doomed.length, messages, alerts, idempotencyKeys };
    });
  }

  async renewLeases(owner: string, queues: QueueRef[], until: number): Promise<void> {
    if (queues.length === 0) return;
    await this.#writes.run(() => {
      for (const q of queues)
        this.#run(
          `UPDATE queues SET lease_expires_at = :until
           WHERE org_id = :orgId AND destination_id = :destinationId AND lease_owner = :owner`,
          { ...q, owner, until },
        );
    });
  }

  async releaseQueue(owner: string, queue: QueueRef): Promise<void> {
    await this.#writes.run(() =>
      this.#run(
        `UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL
         WHERE org_id = :orgId AND destination_id = :destinationId AND lease_owner = :owner`,
        { ...queue, owner },
      ),
    );
  }

  async releaseLeases(owner?: string): Promise<void> {
    await this.#writes.run(() =>
      owner === undefined
        ? this.#run(
            'UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL',
          )
        : this.#run(
            'UPDATE queues SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = :owner',
            {
              owner,
            },
          ),
    );
  }

  async searchLogs(
    orgId: string,
    filter: LogFilter,
    page: Page,
    now: number,
  ): Promise<{ logs: Log[]; nextCursor: string | null }> {
    const where = ['l.org_id = :orgId'];
    const params: Params = { orgId, limit: page.limit + 1 };
    const eq = (column: string, name: string, value: SQLInputValue | undefined): void => {
      if (value === undefined) return;
      where.push(`${column} = :${name}`);
      params[name] = value;
    };
    eq('l.status', 'status', filter.status);
    eq('l.data_model', 'dataModel', filter.dataModel);
    eq('l.event_type', 'eventType', filter.eventType);
    eq('l.source_id', 'sourceId', filter.sourceId);
    eq('l.destination_id', 'destinationId', filter.destinationId);
    eq('l.test', 'test', filter.test === undefined ? undefined : filter.test ? 1 : 0);
    eq('l.message_id', 'messageId', filter.messageId);
    if (filter.from !== undefined) {
      where.push('l.created_at >= :from');
      params.from = filter.from;
    }
    if (filter.to !== undefined) {
      where.push('l.created_at <= :to');
      params.to = filter.to;
    }
    if (filter.q !== undefined) {
      where.push('instr((SELECT m.payload FROM messages m WHERE m.id = l.message_id), :q) > 0');
      params.q = filter.q;
    }
    if (page.cursor !== undefined) {
      where.push('l.pk < :cursor');
      params.cursor = decodeCursor(page.cursor) ?? 0;
    }
    const rows = this.#db
      .prepare(
        `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE ${where.join(' AND ')} ORDER BY l.pk DESC LIMIT :limit`,
      )
      .all(params) as unknown as LogRow[];
    const more = rows.length > page.limit;
    const logs = rows.slice(0, page.limit);
    const last = logs.at(-1);
    return {
      logs: logs.map((r) => toLog(r, now)),
      nextCursor: more && last ? encodeCursor(Number(last.pk)) : null,
    };
  }

  #log(orgId: string, logId: string, now: number): Log | undefined {
    const row = this.#get<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE l.id = :logId AND l.org_id = :orgId`,
      {
        logId,
        orgId,
      },
    );
    return row && toLog(row, now);
  }

  async getLog(orgId: string, logId: string, now: number): Promise<LogDetail | undefined> {
    const log = this.#log(orgId, logId, now);
    if (!log) return undefined;
    const { payload } = this.#get<{ payload: string }>('SELECT payload FROM messages WHERE id = :id', {
      id: log.messageId,
    })!;
    const attempts = this.#all<AttemptRow>('SELECT * FROM attempts WHERE log_id = :id ORDER BY number', {
      id: log.id,
    }).map(toAttempt);
    const related = this.#all<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE l.message_id = :messageId AND l.id <> :id ORDER BY l.pk`,
      { messageId: log.messageId, id: log.id },
    ).map((r) => toLog(r, now));
    return { log, payload: JSON.parse(payload) as unknown, attempts, related };
  }

  async retryLog(
    orgId: string,
    logId: string,
    newLog: { id: string; firstAttemptId: string },
    now: number,
  ): Promise<Log | undefined> {
    const created = await this.#writes.run(() => {
      const original = this.#get<Row>('SELECT * FROM logs WHERE id = :logId AND org_id = :orgId', {
        logId,
        orgId,
      });
      if (!original || original.destination_id === null) return false;
      const seq = this.#nextSeq(orgId, original.destination_id as string);
      this.#run(
        `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
           seq, status, next_attempt_id, next_attempt_at, retry_of, created_at, updated_at)
         VALUES (:id, :messageId, :orgId, 'send', :sourceId, :destinationId, :dataModel, :eventType, :test,
           :seq, 'pending', :firstAttemptId, :now, :retryOf, :now, :now)`,
        {
          id: newLog.id,
          firstAttemptId: newLog.firstAttemptId,
          messageId: original.message_id as number,
          orgId,
          sourceId: original.source_id as string,
          destinationId: original.destination_id as string,
          dataModel: original.data_model as string,
          eventType: original.event_type as string,
          test: original.test as number,
          seq,
          now,
          retryOf: logId,
        },
      );
      return true;
    });
    return created ? this.#log(orgId, newLog.id, now) : undefined;
  }

  async getQueue(orgId: string, destinationId: string, now: number): Promise<QueueView | undefined> {
    const queue = this.#get<Row>(
      'SELECT * FROM queues WHERE org_id = :orgId AND destination_id = :destinationId',
      { orgId, destinationId },
    );
    if (!queue) return undefined;
    const stats = this.#get<{ depth: number; oldest: number | null }>(
      `SELECT count(*) AS depth, min(created_at) AS oldest FROM logs
       WHERE org_id = :orgId AND destination_id = :destinationId AND seq >= :from AND status = 'pending'`,
      { orgId, destinationId, from: queue.pending_from as number },
    )!;
    const headRow = this.#get<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM}
       WHERE l.org_id = :orgId AND l.destination_id = :destinationId AND l.seq >= q.pending_from
         AND l.status = 'pending'
       ORDER BY l.seq LIMIT 1`,
      { orgId, destinationId },
    );
    const head = headRow ? toLog(headRow, now) : null;
    const lastFailure = head
      ? this.#get<AttemptRow>(
          `SELECT * FROM attempts WHERE log_id = :id AND outcome = 'failed' ORDER BY number DESC LIMIT 1`,
          { id: head.id },
        )
      : undefined;
    const pausedAt = queue.paused_at as number | null;
    return {
      destinationId,
      state: pausedAt !== null ? 'paused' : head && head.attemptCount > 0 ? 'blocked' : 'active',
      depth: stats.depth,
      oldestQueuedAt: stats.oldest,
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
    const changes = await this.#writes.run(() =>
      this.#run(
        `UPDATE queues SET paused_by = :by, paused_reason = :reason, paused_at = :at
         WHERE org_id = :orgId AND destination_id = :destinationId`,
        { orgId, destinationId, by: pause?.by ?? null, reason: pause?.reason ?? null, at: pause?.at ?? null },
      ),
    );
    return changes === 1;
  }

  async skipHead(orgId: string, destinationId: string, pause: PauseInfo): Promise<SkipResult> {
    const result = await this.#writes.run((): SkipResult | { id: string } => {
      const queue = this.#get<{ paused_at: number | null; pending_from: number }>(
        'SELECT paused_at, pending_from FROM queues WHERE org_id = :orgId AND destination_id = :destinationId',
        { orgId, destinationId },
      );
      if (!queue) return { error: 'not_found' };
      if (queue.paused_at === null) return { error: 'not_paused' };
      const head = this.#get<{ id: string; seq: number }>(
        `SELECT id, seq FROM logs WHERE org_id = :orgId AND destination_id = :destinationId AND seq >= :from
           AND status = 'pending'
         ORDER BY seq LIMIT 1`,
        { orgId, destinationId, from: queue.pending_from },
      );
      if (!head) return { error: 'empty' };
      this.#run(
        `UPDATE logs SET status = 'failed', next_attempt_at = NULL, failed_reason = :reason, updated_at = :at
         WHERE id = :id`,
        {
          id: head.id,
          at: pause.at,
          reason: `Skipped by ${pause.by}${pause.reason ? `: ${pause.reason}` : ''}`,
        },
      );
      this.#run(ADVANCE_PENDING_FROM, { orgId, destinationId, seq: head.seq });
      return { id: head.id };
    });
    if ('error' in result) return result;
    if ('skipped' in result) return result;
    return { skipped: this.#log(orgId, result.id, pause.at)! };
  }
  recordQuery(query: QueryRecord): Promise<void> {
    return this.#writes.runLazy(() => {
      const { id } = this.#get<{ id: number }>(
        `INSERT INTO messages (org_id, source_id, payload, received_at)
         VALUES (:orgId, :sourceId, :payload, :receivedAt) RETURNING id`,
        {
          orgId: query.orgId,
          sourceId: query.sourceId,
          payload: query.payload,
          receivedAt: query.receivedAt,
        },
      )!;
      const finishedAt = query.attempt.startedAt + query.attempt.durationMs;
      this.#run(
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
          test: query.test ? 1 : 0,
          createdAt: query.receivedAt,
          updatedAt: finishedAt,
        },
      );
      this.#insertAttempt(query.attempt);
    });
  }
}

function queueKey(q: QueueRef): string {
  return `${q.orgId}\u0000${q.destinationId}`;
}

export function openSqliteStore(dataDir: string): SqliteStore {
  return new SqliteStore(`${dataDir}/switchboard.db`);
}

function describeFailure(attempt: Attempt): string {
  if (attempt.error) return attempt.error;
  return attempt.statusCode === null ? 'failed' : `HTTP ${attempt.statusCode}`;
}
