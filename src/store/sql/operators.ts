import type { Log, LogDetail, LogFilter, QueueView } from '../../models/log.ts';
import type { Alert } from '../../models/alert.ts';
import type { AuditEntry, StoredAuditEntry } from '../../models/audit.ts';
import { insertAudit, listAudit } from './audit.ts';
import type { OperatorStore, Page, PauseInfo, QueueSummary, SkipResult } from '../roles/operator-store.ts';
import { listAlerts } from './alerts.ts';
import type { Database } from './database.ts';
import { getLog } from './log-detail.ts';
import { countRetriable, logMark, searchLogs } from './log-search.ts';
import { retryLog, retryLogs, setQueuePaused, skipHead } from './queue-actions.ts';
import { getQueue, listQueues } from './queue-view.ts';

/**
 * The operator role over either database. `announceWork` tells other instances that a queue may
 * have work now (a resumed queue, a retried log); the embedded store has none to tell.
 */
export class SqlOperatorStore implements OperatorStore {
  readonly #db: Database;
  readonly #announceWork: () => void;

  constructor(db: Database, announceWork: () => void = () => undefined) {
    this.#db = db;
    this.#announceWork = announceWork;
  }

  searchLogs(
    orgId: string,
    filter: LogFilter,
    page: Page,
    now: number,
  ): Promise<{ logs: Log[]; nextCursor: string | null }> {
    return searchLogs(this.#db, orgId, filter, page, now);
  }

  getLog(orgId: string, logId: string, now: number): Promise<LogDetail | undefined> {
    return getLog(this.#db, orgId, logId, now);
  }

  countRetriable(orgId: string, filter: LogFilter, upTo?: string): Promise<number> {
    return countRetriable(this.#db, orgId, filter, upTo);
  }

  logMark(): Promise<string> {
    return logMark(this.#db);
  }

  async retryLogs(
    orgId: string,
    retries: { logId: string; id: string; firstAttemptId: string }[],
    now: number,
  ): Promise<{ id: string; retryOf: string }[]> {
    const made = await retryLogs(this.#db, orgId, retries, now);
    if (made.length > 0) this.#announceWork();
    return made;
  }

  async retryLog(
    orgId: string,
    logId: string,
    newLog: { id: string; firstAttemptId: string },
    now: number,
  ): Promise<Log | undefined> {
    const copy = await retryLog(this.#db, orgId, logId, newLog, now);
    if (copy) this.#announceWork();
    return copy;
  }

  getQueue(orgId: string, destinationId: string, now: number): Promise<QueueView | undefined> {
    return getQueue(this.#db, orgId, destinationId, now);
  }

  async setQueuePaused(orgId: string, destinationId: string, pause: PauseInfo | null): Promise<boolean> {
    const found = await setQueuePaused(this.#db, orgId, destinationId, pause);
    if (found && pause === null) this.#announceWork();
    return found;
  }

  skipHead(orgId: string, destinationId: string, pause: PauseInfo, key?: string): Promise<SkipResult> {
    return skipHead(this.#db, orgId, destinationId, pause, key);
  }

  listAlerts(orgId: string, page: Page): Promise<{ alerts: Alert[]; nextCursor: string | null }> {
    return listAlerts(this.#db, orgId, page);
  }

  async recordAudit(entry: AuditEntry): Promise<void> {
    await this.#db.transaction((tx) => insertAudit(tx, entry));
  }

  listAudit(orgId: string, page: Page): Promise<{ entries: StoredAuditEntry[]; nextCursor: string | null }> {
    return listAudit(this.#db, orgId, page);
  }

  listQueues(orgId?: string): Promise<QueueSummary[]> {
    return listQueues(this.#db, orgId);
  }
}
