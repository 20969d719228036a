import type { Alert, AlertChannelResult } from '../models/alert.ts';
import type { CatalogSnapshot, Environment, Origin } from '../models/entities.ts';
import type { Attempt, AttemptOutcome, Log, LogState, LogStatus, LogType } from '../models/log.ts';

/** A payload as text: the stores take it as a string or as its UTF-8 bytes (`MessageFields`). */
export function payloadText(payload: string | Uint8Array): string {
  return typeof payload === 'string'
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString();
}

/**
 * Row shapes shared by every store implementation: both use the same column names, so the
 * mapping to domain objects lives here once.
 */
export interface LogRow {
  pk: number | bigint;
  id: string;
  message_id: number | bigint;
  org_id: string;
  type: string;
  source_id: string;
  destination_id: string | null;
  data_model: string;
  event_type: string;
  test: number | boolean;
  seq: number | bigint | null;
  status: string;
  attempt_count: number;
  next_attempt_at: number | bigint | null;
  retry_of: string | null;
  failed_reason: string | null;
  ordering_key?: string | null;
  created_at: number | bigint;
  updated_at: number | bigint;
  /** Sequence number of the queue's head, for deriving the state. */
  head_seq: number | bigint | null;
  lease_owner: string | null;
  lease_expires_at: number | bigint | null;
}

export interface AttemptRow {
  id: string;
  log_id: string;
  number: number;
  started_at: number | bigint;
  duration_ms: number;
  request_url: string;
  status_code: number | null;
  response_excerpt: string | null;
  error: string | null;
  outcome: string;
}

const num = (value: number | bigint): number => Number(value);
const numOrNull = (value: number | bigint | null): number | null => (value === null ? null : Number(value));

/**
 * `processing` is derived, not written: a pending log is being attempted when it is its queue's
 * head and a worker holds the queue's lease. This saves a write per delivery.
 */
function stateOf(row: LogRow, now: number): LogState | undefined {
  if (row.status !== 'pending') return undefined;
  const leased =
    row.lease_owner !== null && row.lease_expires_at !== null && Number(row.lease_expires_at) > now;
  const isHead = row.head_seq !== null && row.seq !== null && Number(row.head_seq) === Number(row.seq);
  if (leased && isHead) return 'processing';
  return row.attempt_count > 0 ? 'retrying' : 'queued';
}

export function toLog(row: LogRow, now: number): Log {
  const log: Log = {
    id: row.id,
    messageId: num(row.message_id),
    transmissionId: num(row.message_id),
    orgId: row.org_id,
    type: row.type as LogType,
    status: row.status as LogStatus,
    sourceId: row.source_id,
    destinationId: row.destination_id,
    dataModel: row.data_model,
    eventType: row.event_type,
    test: Boolean(row.test),
    sequence: numOrNull(row.seq),
    attemptCount: row.attempt_count,
    nextAttemptAt: numOrNull(row.next_attempt_at),
    retryOf: row.retry_of,
    failedReason: row.failed_reason,
    ...(typeof row.ordering_key === 'string' ? { orderingKey: row.ordering_key } : {}),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
  const state = stateOf(row, now);
  if (state) log.state = state;
  return log;
}

export function toAttempt(row: AttemptRow): Attempt {
  return {
    id: row.id,
    logId: row.log_id,
    number: row.number,
    startedAt: num(row.started_at),
    durationMs: row.duration_ms,
    requestUrl: row.request_url,
    statusCode: row.status_code,
    responseExcerpt: row.response_excerpt,
    error: row.error,
    outcome: row.outcome as AttemptOutcome,
  };
}

/** Alert cursors are opaque to clients; inside they are the alert's insertion order. */
export function encodeCursor(pk: number): string {
  return Buffer.from(`l:${pk}`).toString('base64url');
}

export function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64url').toString();
  const match = /^l:(\d{1,15})$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

export interface AlertRow {
  pk: number | bigint;
  id: string;
  org_id: string;
  destination_id: string;
  log_id: string;
  kind: string;
  attempts: number;
  error: string | null;
  created_at: number | bigint;
  sent_at: number | bigint | null;
  channels: string;
}

export function toAlert(row: AlertRow): Alert {
  return {
    id: row.id,
    orgId: row.org_id,
    destinationId: row.destination_id,
    logId: row.log_id,
    kind: row.kind === 'recovered' ? 'recovered' : 'failing',
    attempts: Number(row.attempts),
    error: row.error,
    createdAt: num(row.created_at),
    sentAt: numOrNull(row.sent_at),
    channels: JSON.parse(row.channels) as AlertChannelResult[],
  };
}

/** The catalog tables as both stores read them (`SELECT *`). */
export interface CatalogRows {
  organizations: Record<string, unknown>[];
  platformKeys: Record<string, unknown>[];
  sources: Record<string, unknown>[];
  destinations: Record<string, unknown>[];
  subscriptions: Record<string, unknown>[];
}

export function toCatalog(rows: CatalogRows): CatalogSnapshot {
  const opt = <T>(value: unknown): T | undefined => (value === null ? undefined : (value as T));
  const optNum = (value: unknown): number | undefined => (value === null ? undefined : Number(value));
  const origin = (r: Record<string, unknown>): Origin => (r.origin === 'file' ? 'file' : 'api');
  return {
    organizations: rows.organizations.map((r) => ({
      id: r.id as string,
      name: r.name as string,
      alertEmail: opt<string>(r.alert_email),
      alertWebhooks: JSON.parse(r.alert_webhooks as string) as string[],
      rateLimit: optNum(r.rate_limit),
      origin: origin(r),
    })),
    platformKeys: rows.platformKeys.map((r) => ({
      keyDigest: r.key_digest as string,
      orgId: r.org_id as string,
      id: r.id as string,
      name: r.name as string,
      createdAt: r.created_at === null || r.created_at === undefined ? null : Number(r.created_at),
      origin: origin(r),
    })),
    sources: rows.sources.map((r) => ({
      orgId: r.org_id as string,
      id: r.id as string,
      name: r.name as string,
      environment: r.environment as Environment,
      clientId: r.client_id as string,
      secretHash: opt<string>(r.secret_hash),
      jwks: r.jwks === null ? undefined : (JSON.parse(r.jwks as string) as unknown),
      jwksUrl: opt<string>(r.jwks_url),
      // SQLite stores 0/1, PostgreSQL a boolean.
      disabled: r.disabled === 1 || r.disabled === true,
      validation: r.validation === 'warn' || r.validation === 'off' ? r.validation : 'strict',
      origin: origin(r),
    })),
    destinations: rows.destinations.map((r) => ({
      orgId: r.org_id as string,
      id: r.id as string,
      name: r.name as string,
      environment: r.environment as Environment,
      url: r.url as string,
      fhirBaseUrl: opt<string>(r.fhir_base_url),
      verificationToken: opt<string>(r.verification_token),
      signingSecret: opt<string>(r.signing_secret),
      timeoutMs: optNum(r.timeout_ms),
      queryTimeoutMs: optNum(r.query_timeout_ms),
      retryInitialDelayMs: optNum(r.retry_initial_delay_ms),
      retryMaxDelayMs: optNum(r.retry_max_delay_ms),
      orderingKey: opt<string>(r.ordering_key),
      maxInFlight: optNum(r.max_in_flight),
      origin: origin(r),
    })),
    subscriptions: rows.subscriptions.map((r) => ({
      orgId: r.org_id as string,
      id: r.id as string,
      sourceId: r.source_id as string,
      dataModel: r.data_model as string,
      eventTypes: r.event_types === null ? undefined : (JSON.parse(r.event_types as string) as string[]),
      destinationId: r.destination_id as string,
      origin: origin(r),
    })),
  };
}
