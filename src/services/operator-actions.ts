import { ApiError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import type { Log, LogFilter } from '../models/log.ts';
import type { OperatorStore } from '../store/roles/operator-store.ts';
import { bulkRetry } from './bulk-retry.ts';

export interface OperatorActionDeps {
  operators: OperatorStore;
  clock: Clock;
  /** Wakes delivery after a queue gained work or was resumed. */
  onQueueChanged: () => void;
}

/** Who acts, in which organization: the audit trail's who. */
export interface Operator {
  orgId: string;
  actor: string;
}

/**
 * The operators' actions (SPEC 5.4, 6), each with its audit entry: one implementation for the
 * Platform API and the dashboard. Refusals are `ApiError`s both answer with.
 */
export class OperatorActions {
  readonly #deps: OperatorActionDeps;

  constructor(deps: OperatorActionDeps) {
    this.#deps = deps;
  }

  async pause(who: Operator, destinationId: string, by: string, reason: string | null): Promise<void> {
    const { operators, clock } = this.#deps;
    if (!(await operators.setQueuePaused(who.orgId, destinationId, { by, reason, at: clock.now() })))
      throw new ApiError('NOT_FOUND', 'Destination not found');
    await this.#audit(who, 'pause', 'queue', destinationId, { by, reason });
  }

  async resume(who: Operator, destinationId: string): Promise<void> {
    if (!(await this.#deps.operators.setQueuePaused(who.orgId, destinationId, null)))
      throw new ApiError('NOT_FOUND', 'Destination not found');
    this.#deps.onQueueChanged();
    await this.#audit(who, 'resume', 'queue', destinationId, {});
  }

  /**
   * Fails the head log of a paused queue, with who and why; with `key`, the head of that
   * ordering key, when the queue is paused or the key blocked.
   */
  async skip(
    who: Operator,
    destinationId: string,
    by: string,
    reason: string | null,
    key?: string,
  ): Promise<Log> {
    const { operators, clock } = this.#deps;
    const result = await operators.skipHead(who.orgId, destinationId, { by, reason, at: clock.now() }, key);
    if ('error' in result) {
      if (result.error === 'not_found') throw new ApiError('NOT_FOUND', 'Destination not found');
      if (result.error === 'not_paused')
        throw new ApiError(
          'CONFLICT',
          key === undefined
            ? 'Pause the queue before skipping its head log'
            : `Ordering key "${key}" is not blocked: pause the queue before skipping its head log`,
        );
      throw new ApiError(
        'CONFLICT',
        key === undefined
          ? 'The queue has no unkeyed log to skip (on a destination with an orderingKey, name the "key")'
          : `Ordering key "${key}" has no queued log to skip`,
      );
    }
    // The key's (or queue's) next log may be due now.
    this.#deps.onQueueChanged();
    await this.#audit(who, 'skip', 'queue', destinationId, {
      logId: result.skipped.id,
      by,
      reason,
      ...(key === undefined ? {} : { key }),
    });
    return result.skipped;
  }

  /** A linked copy of the log at the back of its destination's queue. */
  async retry(who: Operator, logId: string): Promise<Log> {
    const { operators, clock } = this.#deps;
    const log = await operators.retryLog(
      who.orgId,
      logId,
      { id: newId(), firstAttemptId: newId() },
      clock.now(),
    );
    if (!log) throw new ApiError('NOT_FOUND', 'Log not found, or it has no destination to retry');
    this.#deps.onQueueChanged();
    await this.#audit(who, 'retry', 'log', logId, { newLogId: log.id });
    return log;
  }

  /**
   * Every log the filter matches (stored before it began), oldest first, page by page
   * (`services/bulk-retry.ts`); the copies of each page as it commits. Audited once done.
   */
  async *retryAll(who: Operator, filter: LogFilter): AsyncGenerator<{ id: string; retryOf: string }[]> {
    const { operators, clock } = this.#deps;
    let count = 0;
    for await (const page of bulkRetry(
      operators,
      who.orgId,
      filter,
      await operators.logMark(),
      clock.now(),
    )) {
      count += page.length;
      this.#deps.onQueueChanged();
      yield page;
    }
    await this.#audit(who, 'bulk-retry', 'logs', 'search', { filter, count });
  }

  #audit(
    who: Operator,
    action: string,
    resource: string,
    resourceId: string,
    changes: Record<string, unknown>,
  ): Promise<void> {
    return this.#deps.operators.recordAudit({
      orgId: who.orgId,
      at: this.#deps.clock.now(),
      actor: who.actor,
      action,
      resource,
      resourceId,
      changes,
    });
  }
}
