import type { Alert } from '../../models/alert.ts';
import type { Attempt, LogStatus } from '../../models/log.ts';

/**
 * The delivery engine's role: a worker leases whole destination queues, so only one delivers to
 * a destination at a time, and reads and moves their heads. Every query here runs per poll or
 * per delivery and is bounded by an index whatever the history (no scan over done logs).
 */
export interface QueueStore {
  /** Leases up to `limit` queues whose head is due and whose lease is free or expired. */
  claimQueues(claim: QueueClaim): Promise<ClaimedQueue[]>;
  /**
   * Earliest time a not-paused queue's head log is due (for a queue leased by someone else: when
   * that lease expires, if later), or null when none waits. Queues leased by `owner` are left
   * out: its worker is running them.
   */
  nextDueAt(owner: string): Promise<number | null>;
  /** The queue's unkeyed pending logs in order, from its head (strict FIFO). */
  headLogs(queue: QueueRef, limit: number): Promise<DeliveryLog[]>;
  /**
   * The queue's ordering keys with pending logs, leaving out `pick.exclude` (those in flight), with
   * when each head is due: up to `pick.limit` in the order their heads are due (ties by age), or
   * oldest head first. Found through indexes of keys: a blocked key's backlog is never read.
   * Nothing unless `owner` holds the queue's lease and the queue is not paused.
   */
  dueKeys(queue: QueueRef, owner: string, pick: KeyPick): Promise<{ key: string; dueAt: number }[]>;
  /** One ordering key's first `limit` pending logs in order, from its head (its oldest pending log). */
  keyHeadLogs(queue: QueueRef, key: string, limit: number): Promise<DeliveryLog[]>;
  recordAttempt(record: AttemptRecord): Promise<AttemptResult>;
  /** Extends `owner`'s leases of `queues` to `until`; answers those it still held (and renewed). */
  renewLeases(owner: string, queues: QueueRef[], until: number): Promise<QueueRef[]>;
  releaseQueue(owner: string, queue: QueueRef): Promise<void>;
  /** Frees every lease held by `owner`, or every lease at all when omitted (single-process start-up). */
  releaseLeases(owner?: string): Promise<void>;
}

export interface KeyPick {
  limit: number;
  exclude: readonly string[];
  order: 'due' | 'oldest';
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

/** A queue just leased, with the state its runner needs to decide alerts (SPEC 5.5). */
export interface ClaimedQueue extends QueueRef {
  /** The log whose failures opened the queue's current alert; null when none is open. */
  openAlertLogId: string | null;
  /**
   * That log's ordering key, while it is pending: with keys, its key's recovery closes the alert.
   * Null once an operator skipped it: then any key's next delivery does.
   */
  openAlertKey: string | null;
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
  /** The payload as stored: its UTF-8 bytes (SQLite) or text (PostgreSQL), sent as they are. */
  payload: string | Uint8Array;
  /** `application/json`, or `application/fhir+json` for a FHIR message. */
  contentType: string;
  /** Its ordering key, when its destination has an `orderingKey`. */
  orderingKey?: string;
}

/**
 * The result of one delivery attempt, and what it decided. Written only while `owner` still
 * holds the queue's lease: if another worker took the queue over (the lease had expired),
 * nothing is written and `leaseHeld` is false, because the new owner's attempt, under the same
 * ID, is the record.
 */
export interface AttemptRecord {
  owner: string;
  queue: QueueRef;
  /** The log's ordering key, when it has one: the key's head, depth and blocked state move with it. */
  orderingKey?: string;
  attempt: Attempt;
  log: {
    status: LogStatus;
    nextAttemptAt: number | null;
    nextAttemptId: string | null;
    failedReason: string | null;
  };
  /** Give the queue back (the log waits for a later retry, or the worker stops). */
  release: boolean;
  /**
   * The alert this attempt raises (decided by `delivery/alert-policy.ts`), written in the same
   * transaction: `failing` opens the queue's alert, `recovered` closes it.
   */
  alert: Alert | null;
}

export interface AttemptResult {
  /** False when another worker took the queue over (its lease had expired): nothing was written. */
  leaseHeld: boolean;
  paused: boolean;
}
