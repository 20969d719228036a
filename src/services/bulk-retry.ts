import { newId } from '../lib/ids.ts';
import type { LogFilter } from '../models/log.ts';
import type { OperatorStore } from '../store/roles/operator-store.ts';

/** Logs copied per transaction: a bulk retry never holds the store for long, nor much memory. */
export const BULK_RETRY_PAGE = 500;

/**
 * A bulk retry (SPEC 6 `POST /platform/v1/logs/retry`): every log the filter matches, oldest
 * first, so the copies join each destination's queue in the order the originals were accepted.
 * Page by page, each page copied in one transaction: a million matches are never in memory at
 * once, and what a failure leaves behind is whole pages. Only logs stored before it began (up to
 * `upTo`, a mark from `logMark()`) are retried, so it never walks into its own copies.
 */
export async function* bulkRetry(
  operators: Pick<OperatorStore, 'searchLogs' | 'retryLogs'>,
  orgId: string,
  filter: LogFilter,
  upTo: string,
  now: number,
): AsyncGenerator<{ id: string; retryOf: string }[]> {
  let cursor: string | undefined;
  do {
    const page = await operators.searchLogs(
      orgId,
      filter,
      { limit: BULK_RETRY_PAGE, order: 'oldest', upTo, ...(cursor === undefined ? {} : { cursor }) },
      now,
    );
    const retries = page.logs
      .filter((log) => log.destinationId !== null)
      .map((log) => ({ logId: log.id, id: newId(), firstAttemptId: newId() }));
    if (retries.length > 0) yield await operators.retryLogs(orgId, retries, now);
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}
