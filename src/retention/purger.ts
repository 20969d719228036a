import type { RetentionSettings } from '../config.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { PurgeResult, RetentionStore } from '../store/roles/retention-store.ts';

export interface PurgerDeps {
  retention: RetentionStore;
  clock: Clock;
  logger: Logger;
  settings: RetentionSettings;
  /** Idempotency keys are kept as long as they can answer (SPEC 2.2: 24 h), then forgotten. */
  idempotencyWindowMs: number;
}

/**
 * Keeps the database from only growing: every `intervalMs` it deletes what has aged out (see
 * `RetentionStore.purge`), in batches of `batchSize` so the write lock is never held for long and
 * deliveries go on between batches. A log still pending is never deleted, however old.
 */
export class Purger {
  readonly #deps: PurgerDeps;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(deps: PurgerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** One purge now, batch after batch until nothing more is due; the totals. */
  async purgeNow(): Promise<PurgeResult> {
    const { retention, clock, settings, idempotencyWindowMs } = this.#deps;
    const now = clock.now();
    const cut = {
      // logsMs 0 keeps every log; idempotency keys still expire.
      before: settings.logsMs === 0 ? Number.MIN_SAFE_INTEGER : now - settings.logsMs,
      idempotencyBefore: now - idempotencyWindowMs,
      limit: settings.batchSize,
    };
    const total: PurgeResult = { logs: 0, messages: 0, alerts: 0, idempotencyKeys: 0, audit: 0 };
    for (;;) {
      const purged = await retention.purge(cut);
      total.logs += purged.logs;
      total.messages += purged.messages;
      total.alerts += purged.alerts;
      total.idempotencyKeys += purged.idempotencyKeys;
      total.audit += purged.audit;
      const more =
        purged.logs === cut.limit ||
        purged.alerts === cut.limit ||
        purged.idempotencyKeys === cut.limit ||
        purged.audit === cut.limit;
      if (!more || this.#stop.signal.aborted) return total;
      // Between batches, let accepts and deliveries have the store.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { clock, settings, logger } = this.#deps;
    while (!this.#stop.signal.aborted) {
      await clock.sleep(settings.intervalMs, this.#stop.signal);
      if (this.#stop.signal.aborted) return;
      try {
        const purged = await this.purgeNow();
        if (purged.logs + purged.alerts + purged.idempotencyKeys + purged.audit > 0)
          logger.info({ purged }, 'retention: purged');
      } catch (error) {
        // The next interval tries again; nothing is lost by a purge that did not happen.
        logger.error({ err: error }, 'retention: purge failed');
      }
    }
  }
}
