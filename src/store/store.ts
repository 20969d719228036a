import type { Alert, AlertChannelResult } from '../models/alert.ts';
import type { CatalogSnapshot, Destination, Organization, Source, Subscription } from '../models/entities.ts';
import type { Attempt, Log, LogDetail, LogFilter, LogStatus, LogType, QueueView } from '../models/log.ts';

/**
 * The one storage interface. The HTTP layer and the delivery engine see only this; each
 * implementation (SQLite in `sqlite/`, PostgreSQL in `postgres/`) owns its connections and SQL, and both
 * must pass the contract suite in `test/store/contract.ts`.
 *
 * Every write method resolves only after its transaction is durably committed.
 */
export interface Store {
  readonly capabilities: StoreCapabilities;
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Throws when the storage cannot be reached (readiness). */
  ping(): Promise<void>;
  /**
   * Shared stores only: calls `listener` when another process may have stored work this one
   * could deliver (new messages, a resumed queue, a released lease). Returns an unsubscribe.
   */
  onWork?(listener: () => void): () => void;
  /**
   * Shared stores only: runs `work` while no other process runs its own start-up `work` (e.g.
   * instances starting together sync the configured catalog one after the other, so they agree
   * on its client secret hashes).
   */
  exclusive?<T>(work: () => Promise<T>): Promise<T>;

  /**
   * Retention: deletes up to `limit` logs that are done (not pending) and were both created and
   * last changed before `before`, with their attempts, then the messages no log refers to any
   * more; also alerts raised before `before` and idempotency keys created before
   * `idempotencyBefore` (up to `limit` of each). The caller repeats while a count equals `limit`.
   */
  purge(cut: PurgeCut): Promise<PurgeResult>;

  /** A server-wide setting: the stored value, or `candidate` stored now if there was none. */
  getOrCreateSetting(key: string, candidate: string): Promise<string>;
  syncCatalog(catalog: CatalogInput): Promise<void>;
  loadCatalog(): Promise<CatalogSnapshot>;

  /**
   * Stores a message and its logs atomically, assigning per-destination sequence numbers. With
   * an idempotency key, a key already used by the same source (newer than `since`) stores
   * nothing and returns the first answer, or a conflict when the fingerprint differs.
   */
  acceptMessage(message: NewMessage): Promise<AcceptResult>;

  /**
   * Records that a one-time key (a JWT `jti`, a refresh token) was used; false when it already
   * was and has not expired. Expired keys are removed along the way.
   */
  claimOnce(kind: string, key: string, expiresAt: number, now: number): Promise<boolean>;

  /** Whether a one-time key was claimed and has not expired (a revocation mark, say). */
  hasClaim(kind: string, key: string, now: number): Promise<boolean>;

  // Delivery: a worker leases whole destination queues, so only one delivers to a destination.
  claimQueues(claim: QueueClaim): Promise<QueueRef[]>;
  /**
   * Earliest time a not-paused queue's head log is due (for a queue leased by someone else: when
   * that lease expires, if later), or null when none waits. Queues leased by `ignoreOwner` are
   * left out: their worker is running them.
   */
  nextDueAt(ignoreOwner?: string): Promise<number | null>;
  /** The queue's pending logs in order, from its head. */
  headLogs(queue: QueueRef, limit: number): Promise<DeliveryLog[]>;
  recordAttempt(record: AttemptRecord): Promise<AttemptResult>;
  renewLeases(owner: string, queues: QueueRef[], until: number): Promise<void>;
  releaseQueue(owner: string, queue: QueueRef): Promise<void>;
  /** Frees every lease held by `owner`, or every lease at all when omitted (single-process start-up). */
  releaseLeases(owner?: string): Promise<void>;

  // Operators
  searchLogs(
    orgId: string,
    filter: LogFilter,
    page: Page,
    now: number,
  ): Promise<{ logs: Log[]; nextCursor: string | null }>;
  getLog(orgId: string, logId: string, now: number): Promise<LogDetail | undefined>;
  /** Puts a copy of the log at the back of its destination's queue (SPEC 5.4). */
  retryLog(
    orgId: string,
    logId: string,
    newLog: { id: string; firstAttemptId: string },
    now: number,
  ): Promise<Log | undefined>;
  getQueue(orgId: string, destinationId: string, now: number): Promise<QueueView | undefined>;
  setQueuePaused(orgId: string, destinationId: string, pause: PauseInfo | null): Promise<boolean>;
  /** Fails the head log of a paused queue. */
  skipHead(orgId: string, destinationId: string, pause: PauseInfo): Promise<SkipResult>;

  /**
   * Records a finished synchronous query: its message, its one `request` log and the attempt.
   * It may be committed a little later (tens of milliseconds) together with other writes.
   */
  recordQuery(query: QueryRecord): Promise<void>;

  // Alerts: raised inside `recordAttempt`'s transaction (an outbox), then sent by the notifier.
  listAlerts(orgId: string, page: Page): Promise<{ alerts: Alert[]; nextCursor: string | null }>;
  markAlertSent(alertId: string, channels: AlertChannelResult[], at: number): Promise<void>;
  /** Alerts raised but not yet sent (e.g. the process died in between), oldest first. */
  unsentAlerts(limit: number): Promise<Alert[]>;
}

export interface QueryRecord {
  orgId: string;
  sourceId: string;
  dataModel: string;
  eventType: string;
  test: boolean;
  payload: string;
  receivedAt: number;
  log: { id: string; destinationId: string; status: 'succeeded' | 'failed'; failedReason: string | null };
  attempt: Attempt;
}

export interface StoreCapabilities {
  /** Several processes share this store (PostgreSQL); the embedded store has one. */
  multipleWriters: boolean;
}

export interface CatalogInput {
  organizations: Organization[];
  sources: Source[];
  destinations: Destination[];
  subscriptions: Subscription[];
  platformKeys: { orgId: string; keyDigest: string }[];
}

export interface NewLog {
  id: string;
  destinationId: string | null;
  status: 'pending' | 'filtered';
  firstAttemptId: string | null;
  failedReason?: string;
}

export interface NewMessage {
  orgId: string;
  sourceId: string;
  type: LogType;
  dataModel: string;
  eventType: string;
  test: boolean;
  /** The payload as JSON text, stored as received. */
  payload: string;
  receivedAt: number;
  logs: NewLog[];
  idempotency?: {
    key: string;
    /** Digest of the request body: the same key with another body is a conflict. */
    fingerprint: string;
    /** Keys created before this time are expired and forgotten. */
    since: number;
    /** What to remember of the first answer (opaque to the store), kept with the message's IDs. */
    answer: string;
  };
}

export type AcceptResult =
  | ({ kind: 'accepted' } & AcceptedMessage)
  | { kind: 'replayed'; answer: string; messageId: number; transmissionId: number }
  | { kind: 'conflict' };

export interface AcceptedMessage {
  messageId: number;
  transmissionId: number;
  logs: { id: string; destinationId: string | null; sequence: number | null }[];
}

export interface QueueRef {
  orgId: string;
  destinationId: string;
}

export interface QueueClaim {
  owner: string;
  now: number;
  leaseUntil: number;
  limit: number;
  /** Queues this worker already runs; never handed out twice. */
  exclude: QueueRef[];
}

export interface DeliveryLog {
  id: string;
  messageId: number;
  orgId: string;
  destinationId: string;
  sequence: number;
  test: boolean;
  attemptCount: number;
  nextAttemptId: string;
  nextAttemptAt: number;
  receivedAt: number;
  payload: string;
}

/**
 * The result of one delivery attempt. Written only while `owner` still holds the queue's lease:
 * if another worker took the queue over (the lease had expired), nothing is written and
 * `leaseHeld` is false, because the new owner's attempt, under the same ID, is the record.
 */
export interface AttemptRecord {
  owner: string;
  queue: QueueRef;
  attempt: Attempt;
  log: {
    status: LogStatus;
    nextAttemptAt: number | null;
    nextAttemptId: string | null;
    failedReason: string | null;
  };
  /** Give the queue back (the log waits for a later retry, or the worker stops). */
  release: boolean;
  /** A store may extend the lease to this (the dispatcher's renew loop keeps it alive anyway). */
  leaseUntil: number;
  /**
   * SPEC 5.5. A failed attempt that brings the log's failures to `afterAttempts` raises a
   * `failing` alert (ID `id`) unless the queue already has one open; a success while one is open
   * raises `recovered` and closes it. Decided in the same transaction as the attempt.
   */
  alert: { id: string; afterAttempts: number };
}

export interface AttemptResult {
  /** False when another worker took the queue over (its lease had expired). */
  leaseHeld: boolean;
  paused: boolean;
  /** The alert this attempt raised, to be sent. */
  alert?: Alert;
}

export interface PurgeCut {
  /** Done logs created and last changed before this, and alerts raised before it, go. */
  before: number;
  idempotencyBefore: number;
  /** At most this many of each kind in one call. */
  limit: number;
}

export interface PurgeResult {
  logs: number;
  messages: number;
  alerts: number;
  idempotencyKeys: number;
}

export interface PauseInfo {
  by: string;
  reason: string | null;
  at: number;
}

export type SkipResult = { skipped: Log } | { error: 'not_found' | 'not_paused' | 'empty' };

export interface Page {
  cursor?: string;
  limit: number;
}
