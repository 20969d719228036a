import { randomUUID } from 'node:crypto';
import type { Alert } from '../models/alert.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { DeliverySettings } from '../config.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Attempt, AttemptOutcome } from '../models/log.ts';
import type { ClaimedQueue, DeliveryLog, QueueRef, QueueStore } from '../store/roles/queue-store.ts';
import type { Outbound } from './outbound.ts';
import { decideAlert, newAlert } from './alert-policy.ts';
import { decideRetry } from './retry-policy.ts';
import { KeyWakeups, queueName, runKeyLanes, type LaneEnd } from './key-lanes.ts';
import { newId } from '../lib/ids.ts';

export interface DispatcherDeps {
  queues: QueueStore;
  catalog: Catalog;
  clock: Clock;
  settings: DeliverySettings;
  logger: Logger;
  outbound: Outbound;
  /** Identifies this worker's leases; unique per process. */
  owner?: string;
  /** Given each alert an attempt raised, once it is committed (SPEC 5.5). */
  onAlert?: (alert: Alert) => void;
  /** Told of each attempt once recorded (metrics). */
  onAttempt?: (report: AttemptReport) => void;
}

/** What the dispatcher tells of each recorded attempt. */
export interface AttemptReport {
  orgId: string;
  destinationId: string;
  outcome: AttemptOutcome;
  durationMs: number;
  /** When the message was accepted, and when this attempt ended. */
  receivedAt: number;
  finishedAt: number;
}

/** 'later': the log waits for a retry (with ordering keys, only its key waits). */
type Step = 'next' | 'stop' | 'later';

/** What a queue's runner keeps while it holds the queue. */
interface RunState {
  alertOpen: boolean;
  /** With ordering keys, the key whose log opened the alert: its recovery closes it. */
  alertKey: string | null;
}

/**
 * Delivers logs. The dispatcher leases whole destination queues from the store and runs one
 * sequential runner per leased queue, so each destination sees at most one log in flight and
 * gets them in sequence order, while many destinations run in parallel.
 *
 * States: running (claiming and starting runners) -> idle (sleeping until woken, until the next
 * retry is due, or the poll interval) -> running ... -> stopping -> stopped. `notify()` wakes it;
 * the store, not memory, decides what is due, so a lost wake-up only costs one poll interval.
 */
export class Dispatcher {
  readonly owner: string;
  readonly #deps: DispatcherDeps;
  readonly #runners = new Map<string, { queue: QueueRef; done: Promise<void> }>();
  readonly #shutdown = new AbortController();
  #wake: AbortController | undefined;
  #woken = false;
  /** Runners of keyed queues waiting for new work (see `runKeyLanes`). */
  readonly #keyWakeups = new KeyWakeups();
  #stopping = false;
  #loops: Promise<void>[] = [];
  /** Claim passes started; each waiter is told how many queues the first pass after its call claimed. */
  #passes = 0;
  #passWaiters: { after: number; resolve: (claimed: number) => void }[] = [];

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    this.owner = deps.owner ?? `worker-${randomUUID()}`;
  }

  start(): void {
    this.#loops = [this.#claimLoop(), this.#renewLoop()];
  }

  /**
   * New work may be there (for `queues`, when named): look now rather than at the next poll.
   * Keyed runners are woken only for their own queue's work, unless none is named.
   */
  notify(queues?: readonly QueueRef[]): void {
    this.#wakeClaims();
    this.#keyWakeups.wake(queues);
  }

  #wakeClaims(): void {
    this.#woken = true;
    this.#wake?.abort();
  }

  get activeQueues(): number {
    return this.#runners.size;
  }

  /**
   * Resolves once the dispatcher, looking for work after this call, found nothing it could
   * deliver and has nothing running: every due log was delivered or is waiting its turn. Lets a
   * test assert that something was not delivered without sleeping for a guessed while.
   */
  async settled(): Promise<void> {
    if (this.#loops.length === 0 || this.#stopping) return;
    for (;;) {
      const after = this.#passes;
      const claimed = await new Promise<number>((resolve) => {
        this.#passWaiters.push({ after, resolve });
        this.notify();
      });
      const running = [...this.#runners.values()].map((r) => r.done);
      if (claimed === 0 && running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** A claim pass ended, having started `count` runners. */
  #passDone(pass: number, count: number): void {
    const waiting = this.#passWaiters;
    this.#passWaiters = waiting.filter((w) => w.after >= pass);
    for (const w of waiting) if (w.after < pass) w.resolve(count);
  }

  /** Stops claiming, lets in-flight attempts finish for the grace period, then aborts them. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.notify();
    const runners = Promise.all([...this.#runners.values()].map((r) => r.done));
    const grace = new Promise<void>((resolve) =>
      setTimeout(resolve, this.#deps.settings.shutdownGraceMs).unref(),
    );
    await Promise.race([runners, grace]);
    this.#shutdown.abort();
    await runners;
    await Promise.all(this.#loops);
  }

  async #claimLoop(): Promise<void> {
    const { queues, clock, settings, logger } = this.#deps;
    let failures = 0;
    while (!this.#stopping) {
      try {
        const pass = ++this.#passes;
        const free = settings.concurrency - this.#runners.size;
        let started = 0;
        if (free > 0) {
          this.#woken = false;
          const now = clock.now();
          const claimed = await queues.claimQueues({
            owner: this.owner,
            now,
            leaseUntil: now + settings.leaseMs,
            limit: free,
            exclude: [...this.#runners.values()].map((r) => r.queue),
          });
          for (const queue of claimed) this.#startRunner(queue);
          started = claimed.length;
        }
        this.#passDone(pass, started);
        failures = 0;
        await this.#idle(free > 0);
      } catch (error) {
        failures++;
        logger.error({ err: error }, 'delivery: claiming queues failed');
        // Real time, not the injected clock: how long a database takes to come back is not part of
        // any schedule (like an HTTP timeout), and a manual clock would never end the wait.
        await systemClock.sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)), this.#shutdown.signal);
      }
    }
  }

  /** Sleeps until woken, until the next retry is due (when a runner slot is free), or one poll interval. */
  async #idle(slotFree: boolean): Promise<void> {
    if (this.#woken || this.#stopping) return;
    const { queues, clock, settings } = this.#deps;
    const wake = new AbortController();
    this.#wake = wake;
    try {
      // With every slot taken only a finishing runner (which notifies) can make room.
      const due = slotFree ? await queues.nextDueAt(this.owner) : null;
      const wait =
        due === null
          ? settings.pollIntervalMs
          : Math.min(Math.max(0, due - clock.now()), settings.pollIntervalMs);
      // A zero wait still yields to the event loop, so pending commits and I/O run first.
      if (wait > 0) await clock.sleep(wait, wake.signal);
      else await new Promise((resolve) => setImmediate(resolve));
    } finally {
      this.#wake = undefined;
    }
  }

  async #renewLoop(): Promise<void> {
    const { queues, clock, settings, logger } = this.#deps;
    while (!this.#stopping) {
      await clock.sleep(settings.leaseMs / 3, this.#shutdown.signal);
      if (this.#stopping) break;
      try {
        const now = clock.now();
        await queues.renewLeases(
          this.owner,
          [...this.#runners.values()].map((r) => r.queue),
          now + settings.leaseMs,
        );
      } catch (error) {
        logger.error({ err: error }, 'delivery: renewing leases failed');
      }
    }
  }

  #startRunner(claimed: ClaimedQueue): void {
    const queue: QueueRef = { orgId: claimed.orgId, destinationId: claimed.destinationId };
    const key = queueName(queue);
    const run: RunState = { alertOpen: claimed.openAlertLogId !== null, alertKey: claimed.openAlertKey };
    const done = this.#runQueue(queue, run).finally(() => {
      this.#runners.delete(key);
      this.#wakeClaims();
    });
    this.#runners.set(key, { queue, done });
  }

  /**
   * Delivers the queue's unkeyed logs strictly in sequence order, then its keyed ones (ordering
   * keys, SPEC 5.2) key by key. A queue normally has only one kind; both are there for a while
   * after its destination's `orderingKey` is set or removed.
   */
  async #runQueue(queue: QueueRef, run: RunState): Promise<void> {
    const { queues, catalog, clock, settings, logger } = this.#deps;
    try {
      if (catalog.destination(queue.orgId, queue.destinationId)) {
        batches: while (!this.#stopping) {
          const logs = await queues.headLogs(queue, settings.batchSize);
          if (logs.length === 0) break;
          for (const log of logs) {
            if (this.#stopping) break batches;
            // An unkeyed head waiting for its retry holds the whole queue, keyed logs included
            // (strict FIFO); the claim loop takes the queue again when it is due.
            if (log.nextAttemptAt > clock.now()) {
              await queues.releaseQueue(this.owner, queue);
              return;
            }
            if ((await this.#deliver(queue, run, log)) === 'stop') return;
          }
        }
        if (!this.#stopping) await this.#runKeys(queue, run);
      } else {
        logger.warn({ queue }, 'delivery: destination no longer configured; its queue waits');
      }
      await queues.releaseQueue(this.owner, queue);
    } catch (error) {
      logger.error({ err: error, queue }, 'delivery: runner failed; the queue is released');
      await queues.releaseQueue(this.owner, queue).catch(() => undefined);
    }
  }

  /** The queue's ordering keys, up to the destination's `maxInFlight` at once. */
  async #runKeys(queue: QueueRef, run: RunState): Promise<LaneEnd> {
    const { queues, catalog, clock, settings, logger } = this.#deps;
    return runKeyLanes({
      queues,
      queue,
      owner: this.owner,
      clock,
      onLaneError: (key, error) =>
        logger.error({ err: error, queue, key }, 'delivery: an ordering key failed; the queue is released'),
      maxInFlight: () => catalog.destination(queue.orgId, queue.destinationId)?.maxInFlight ?? 1,
      stopping: () => this.#stopping,
      pollIntervalMs: settings.pollIntervalMs,
      woken: (signal) => this.#keyWakeups.wait(queue, signal),
      runKey: async (key, turn) => {
        for (const log of await queues.keyHeadLogs(queue, key, turn)) {
          if (this.#stopping || log.nextAttemptAt > clock.now()) return 'next';
          const step = await this.#deliver(queue, run, log);
          if (step !== 'next') return step === 'stop' ? 'stop' : 'next';
        }
        return 'next';
      },
    });
  }

  /**
   * Attempts one log until it is done with ('next') or the queue must be given up ('stop').
   * Each attempt's record is committed before anything else is sent to the destination: were the
   * next log sent while the record of this one commits, a crash in between would deliver this
   * one again after the next, and the receiver would see its queue go back (SPEC 5.2).
   * An unkeyed log that waits for a retry gives the queue back ('stop'); a keyed one ('later')
   * only ends its key's turn, and the queue is given back by its runner once no key is in flight.
   */
  async #deliver(queue: QueueRef, run: RunState, log: DeliveryLog): Promise<Step> {
    const { queues, clock, settings, outbound, catalog } = this.#deps;
    let attemptCount = log.attemptCount;
    let attemptId = log.nextAttemptId;
    const key = log.orderingKey;
    // A keyed runner gives the queue back itself, once its other keys' attempts have ended.
    const giveBack =
      key === undefined ? () => queues.releaseQueue(this.owner, queue) : () => Promise.resolve();
    for (;;) {
      // Read at each attempt, so a change made through the API (a new URL, secret or timeout)
      // applies from the next attempt on, never to one in flight.
      const destination = catalog.destination(queue.orgId, queue.destinationId);
      if (!destination) {
        await giveBack();
        return 'stop';
      }
      const startedAt = clock.now();
      const started = performance.now();
      const result = await outbound.send({
        destination,
        logId: log.id,
        attemptId,
        messageId: log.messageId,
        sequence: log.sequence,
        receivedAt: log.receivedAt,
        body: log.payload,
        contentType: log.contentType,
        ...(log.orderingKey === undefined ? {} : { orderingKey: log.orderingKey }),
        timeoutMs: destination.timeoutMs ?? settings.asyncTimeoutMs,
        signal: this.#shutdown.signal,
        now: startedAt,
      });
      if (result.aborted) {
        // Shutting down mid-attempt: the log stays pending and is delivered again after restart.
        await giveBack();
        return 'stop';
      }
      attemptCount++;
      const delivered = result.outcome !== 'failed';
      const decision = delivered ? undefined : decideRetry(destination, log.test, attemptCount, settings);
      const retryAt = decision?.retry ? clock.now() + decision.delayMs : null;
      const nextAttemptId = decision?.retry ? newId() : null;
      const later = retryAt !== null && retryAt > clock.now();
      const release = later && key === undefined;
      const finishedAt = clock.now();
      const attempt: Attempt = {
        id: attemptId,
        logId: log.id,
        number: attemptCount,
        startedAt,
        durationMs: Math.round(performance.now() - started),
        requestUrl: destination.url,
        statusCode: result.statusCode,
        responseExcerpt: result.responseExcerpt,
        error: result.error,
        outcome: result.outcome,
      };
      const alertKind = decideAlert({
        outcome: result.outcome,
        attempts: attemptCount,
        // With ordering keys the alert is recovered by its own key: another key's success says
        // nothing of the failing one (and a second failing key does not alert again).
        alertOpen:
          run.alertOpen &&
          (delivered && key !== undefined ? run.alertKey === null || run.alertKey === key : true),
        afterAttempts: settings.alertAfterAttempts,
      });
      const alert = alertKind && newAlert(queue, attempt, alertKind, finishedAt);
      // Decided before the record is awaited, so two keys failing at once raise one alert.
      const alertBefore = { open: run.alertOpen, key: run.alertKey };
      if (alert) {
        run.alertOpen = alert.kind === 'failing';
        run.alertKey = alert.kind === 'failing' ? (key ?? null) : null;
      }
      const recorded = await queues.recordAttempt({
        owner: this.owner,
        queue,
        ...(key === undefined ? {} : { orderingKey: key }),
        release,
        attempt,
        alert,
        log: {
          status: delivered ? 'succeeded' : decision?.retry ? 'pending' : 'failed',
          nextAttemptAt: retryAt,
          nextAttemptId,
          failedReason: decision && !decision.retry ? decision.reason : null,
        },
      });
      // Another worker took the queue over (this one stalled past its lease): it owns the log now.
      if (!recorded.leaseHeld) {
        run.alertOpen = alertBefore.open;
        run.alertKey = alertBefore.key;
        return 'stop';
      }
      this.#deps.onAttempt?.({
        ...queue,
        outcome: attempt.outcome,
        durationMs: attempt.durationMs,
        receivedAt: log.receivedAt,
        finishedAt,
      });
      if (alert) this.#deps.onAlert?.(alert);
      if (recorded.paused || release) {
        if (!release) await giveBack();
        return 'stop';
      }
      if (later) return 'later';
      if (nextAttemptId === null) return 'next';
      attemptId = nextAttemptId;
    }
  }
}
