import type { Alert } from '../../models/alert.ts';
import type { AuditEntry, StoredAuditEntry } from '../../models/audit.ts';
import type { Log, LogDetail, LogFilter, QueueState, QueueView } from '../../models/log.ts';

/** What operators read and do through the Platform API: log search and detail, queue actions. */
export interface OperatorStore {
  /**
   * Logs newest first, cursor-paged. `q` is served from the search keys (exact or prefix);
   * `match: 'substring'` scans payload text instead and needs both `from` and `to`.
   */
  searchLogs(
    orgId: string,
    filter: LogFilter,
    page: Page,
    now: number,
  ): Promise<{ logs: Log[]; nextCursor: string | null }>;
  getLog(orgId: string, logId: string, now: number): Promise<LogDetail | undefined>;
  /** How many logs with a destination the filter matches (up to a mark): what a bulk retry would copy. */
  countRetriable(orgId: string, filter: LogFilter, upTo?: string): Promise<number>;
  /** A mark of every log stored so far (opaque): see `Page.upTo`. */
  logMark(): Promise<string>;
  /**
   * Puts copies of the logs (those with a destination) at the back of their destinations'
   * queues, in the order given, in one transaction; the copies made, in that order.
   */
  retryLogs(
    orgId: string,
    retries: { logId: string; id: string; firstAttemptId: string }[],
    now: number,
  ): Promise<{ id: string; retryOf: string }[]>;
  /** Puts a copy of the log at the back of its destination's queue (SPEC 5.4). */
  retryLog(
    orgId: string,
    logId: string,
    newLog: { id: string; firstAttemptId: string },
    now: number,
  ): Promise<Log | undefined>;
  getQueue(orgId: string, destinationId: string, now: number): Promise<QueueView | undefined>;
  setQueuePaused(orgId: string, destinationId: string, pause: PauseInfo | null): Promise<boolean>;
  /** Fails the head log of a paused queue; with `key`, of that ordering key (paused or blocked). */
  skipHead(orgId: string, destinationId: string, pause: PauseInfo, key?: string): Promise<SkipResult>;
  listAlerts(orgId: string, page: Page): Promise<{ alerts: Alert[]; nextCursor: string | null }>;
  /**
   * Every queue (of one organization, or of all), with its state, depth and oldest queued log:
   * a few index lookups per queue, whatever the history or the backlogs.
   */
  listQueues(orgId?: string): Promise<QueueSummary[]>;
  /** Adds an operator action (pause, skip, retry, ...) to the audit trail. */
  recordAudit(entry: AuditEntry): Promise<void>;
  /** The audit trail, newest first, cursor-paged. */
  listAudit(orgId: string, page: Page): Promise<{ entries: StoredAuditEntry[]; nextCursor: string | null }>;
}

export interface QueueSummary {
  orgId: string;
  destinationId: string;
  state: QueueState;
  depth: number;
  oldestQueuedAt: number | null;
  /** Ordering keys whose head failed and waits for a retry, and since when the longest has. */
  blockedKeys: number;
  oldestBlockedAt: number | null;
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
  /** Logs only: newest first (the default), or oldest first (a bulk retry walks them so). */
  order?: 'newest' | 'oldest';
  /** Logs only: only those stored by the time `logMark()` gave this mark. */
  upTo?: string;
}
