import { randomUUID } from 'node:crypto';
import type { Alert } from '../models/alert.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { DeliverySettings } from '../config.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { ClaimedQueue, QueueRef, QueueStore } from '../store/roles/queue-store.ts';
import type { Outbound } from './outbound.ts';
import { LeaseFence } from './lease-fence.ts';
import { deliverLog, type AttemptReport, type DeliveryContext, type RunState } from './deliver-log.ts';
import { KeyWakeups, queueName, runKeyLanes, type LaneEnd } from './key-lanes.ts';

export type { AttemptReport } from './deliver-log.ts';

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

/**
 * Delivers logs. The dispatcher leases whole destination queues from the store and runs one
 * runner per leased queue: sequential for a destination without an ordering key, so it sees at
 * most one log in flight and gets them in sequence order; for a keyed one, up to `maxInFlight`
 * keys at once, each in order (key-lanes.ts). Many destinations run in parallel. A runner trusts
 * its lease only until a deadline on the monotonic clock (lease-fence.ts): past it, it sends
 * nothing more and aborts what is in flight, so a stalled instance never delivers behind the
 * queue's next holder.
 *
 * States: running (claiming and starting runners) -> idle (sleeping until woken, until the next
 * retry is due, or the poll interval) -> running ... -> stopping -> stopped. `notify()` wakes it;
 * the store, not memory, decides what is due, so a lost wake-up only costs one poll interval.
 */
export class Dispatcher {
  readonly owner: string;
  readonly #deps: DispatcherDeps;
  readonly #runners = new Map<string, { queue: QueueRef; fence: LeaseFence; done: Promise<void> }>();
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

  readonly #context: DeliveryContext;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    this.owner = deps.owner ?? `worker-${randomUUID()}`;
    this.#context = { deps, owner: this.owner, shutdown: this.#shutdown.signal };
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
          // The lease is trusted from the time it was asked for, not from when the answer came.
          const asked = performance.now();
          const now = clock.now();
          const claimed = await queues.claimQueues({
            owner: this.owner,
            now,
            leaseUntil: now + settings.leaseMs,
            limit: free,
            exclude: [...this.#runners.values()].map((r) => r.queue),
          });
          for (const queue of claimed)
            this.#startRunner(queue, new LeaseFence(asked + LeaseFence.trustedFor(settings.leaseMs)));
          started = claimed.length;
        }
        this.#passDone(pass, started);
        failures = 0;
        await this.#idle(free > 0);
      } catch (error) {
        failures++;
        logger.error({ err: error }, 'delivery: claiming queues failed');
        // Real time, not the injected clock: how long a database takes to come back is not part of
        // any schedule (like an HTTP timeout), and a manual clock would never end the wait. Short
        // at first and capped at 5 s: connections the database cut fail one claim each, and a
        // long back-off after a few of them kept a recovered instance idle for over 15 s (CI).
        await systemClock.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)), this.#shutdown.signal);
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

  /**
   * Renews the leases of the queues being run, every `leaseMs / 3` of real time (a lease is about
   * real time, like an HTTP timeout, whatever clock the schedules use). A renewal extends each
   * runner's fence from the time it was asked for; a queue the store no longer gives this worker
   * (taken over after a stall) has its fence expired at once, aborting its attempt in flight; a
   * failed renewal stops every runner before its next send.
   */
  async #renewLoop(): Promise<void> {
    const { queues, clock, settings, logger } = this.#deps;
    while (!this.#stopping) {
      await systemClock.sleep(settings.leaseMs / 3, this.#shutdown.signal);
      if (this.#stopping) break;
      const running = [...this.#runners.values()];
      const asked = performance.now();
      try {
        const renewed = new Set(
          (
            await queues.renewLeases(
              this.owner,
              running.map((r) => r.queue),
              clock.now() + settings.leaseMs,
            )
          ).map(queueName),
        );
        for (const runner of running)
          if (renewed.has(queueName(runner.queue)))
            runner.fence.extend(asked + LeaseFence.trustedFor(settings.leaseMs));
          else runner.fence.expire();
      } catch (error) {
        logger.error({ err: error }, 'delivery: renewing leases failed; runners stop before their next send');
        for (const runner of running) runner.fence.suspend();
      }
    }
  }

  #startRunner(claimed: ClaimedQueue, fence: LeaseFence): void {
    const queue: QueueRef = { orgId: claimed.orgId, destinationId: claimed.destinationId };
    const key = queueName(queue);
    const run: RunState = {
      fence,
      alertOpen: claimed.openAlertLogId !== null,
      alertKey: claimed.openAlertKey,
    };
    const done = this.#runQueue(queue, run).finally(() => {
      fence.close();
      this.#runners.delete(key);
      this.#wakeClaims();
    });
    this.#runners.set(key, { queue, fence, done });
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
            if ((await deliverLog(this.#context, queue, run, log)) === 'stop') return;
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
          const step = await deliverLog(this.#context, queue, run, log);
          if (step !== 'next') return step === 'stop' ? 'stop' : 'next';
        }
        return 'next';
      },
    });
  }
}
