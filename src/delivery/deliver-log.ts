import type { Attempt, AttemptOutcome } from '../models/log.ts';
import type { DeliveryLog, QueueRef } from '../store/roles/queue-store.ts';
import type { DispatcherDeps } from './dispatcher.ts';
import { decideAlert, newAlert } from './alert-policy.ts';
import type { LeaseFence } from './lease-fence.ts';
import { decideRetry } from './retry-policy.ts';
import { newId } from '../lib/ids.ts';

/*
 * One log's attempts, from the first until it is delivered, failed, or waits for a retry: the
 * send, the failure and alert policies' decisions, and the attempt's record, committed before
 * anything else goes to the destination (or the key).
 */

/** What an attempt loop needs of its dispatcher. */
export interface DeliveryContext {
  deps: DispatcherDeps;
  /** The dispatcher's lease owner. */
  owner: string;
  /** Aborts at shutdown (after the grace period). */
  shutdown: AbortSignal;
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
export type Step = 'next' | 'stop' | 'later';

/** What a queue's runner keeps while it holds the queue. */
export interface RunState {
  /** Until when this runner may trust its lease (see lease-fence.ts). */
  fence: LeaseFence;
  alertOpen: boolean;
  /** With ordering keys, the key whose log opened the alert: its recovery closes it. */
  alertKey: string | null;
}

/**
 * Attempts one log until it is done with ('next') or the queue must be given up ('stop').
 * Each attempt's record is committed before anything else is sent to the destination: were the
 * next log sent while the record of this one commits, a crash in between would deliver this
 * one again after the next, and the receiver would see its queue go back (SPEC 5.2).
 * An unkeyed log that waits for a retry gives the queue back ('stop'); a keyed one ('later')
 * only ends its key's turn, and the queue is given back by its runner once no key is in flight.
 */
export async function deliverLog(
  ctx: DeliveryContext,
  queue: QueueRef,
  run: RunState,
  log: DeliveryLog,
): Promise<Step> {
  const { queues, clock, settings, outbound, catalog } = ctx.deps;
  let attemptCount = log.attemptCount;
  let attemptId = log.nextAttemptId;
  const key = log.orderingKey;
  // A keyed runner gives the queue back itself, once its other keys' attempts have ended.
  const giveBack = key === undefined ? () => queues.releaseQueue(ctx.owner, queue) : () => Promise.resolve();
  for (;;) {
    // Read at each attempt, so a change made through the API (a new URL, secret or timeout)
    // applies from the next attempt on, never to one in flight.
    const destination = catalog.destination(queue.orgId, queue.destinationId);
    if (!destination) {
      await giveBack();
      return 'stop';
    }
    // The lease may have run out while this process was away (a stall): then no send. The
    // queue is given back if still this worker's; the log stays pending for the next holder.
    if (!run.fence.held()) {
      ctx.deps.logger.warn({ queue }, 'delivery: lease no longer trusted; the runner stops before sending');
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
      signal: AbortSignal.any([ctx.shutdown, run.fence.signal]),
      now: startedAt,
    });
    if (result.aborted) {
      // Shutting down, or the lease's deadline, mid-attempt: the log stays pending and is
      // delivered again (after restart, or by the queue's next holder).
      if (run.fence.signal.aborted)
        ctx.deps.logger.warn({ queue, logId: log.id }, 'delivery: lease deadline reached; attempt aborted');
      await giveBack();
      return 'stop';
    }
    attemptCount++;
    const delivered = result.outcome !== 'failed';
    const decision = delivered
      ? undefined
      : decideRetry(destination, log.test, attemptCount, settings, result.retryAfterMs);
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
      owner: ctx.owner,
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
    ctx.deps.onAttempt?.({
      ...queue,
      outcome: attempt.outcome,
      durationMs: attempt.durationMs,
      receivedAt: log.receivedAt,
      finishedAt,
    });
    if (alert) ctx.deps.onAlert?.(alert);
    if (recorded.paused || release) {
      if (!release) await giveBack();
      return 'stop';
    }
    if (later) return 'later';
    if (nextAttemptId === null) return 'next';
    attemptId = nextAttemptId;
  }
}
