import type { DeliverySettings } from '../config.ts';
import type { Destination } from '../models/entities.ts';

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

/**
 * The failure policy of SPEC 5.3, in one place.
 * - `Meta.Test` messages: the failure is recorded, never retried.
 * - production: retried forever; the queue waits behind the log.
 * - staging / development: one retry after a brief pause, then `failed`.
 * - A receiver's `Retry-After` (on 429 or 503) makes the next attempt wait at least that long,
 *   capped at ten times `retryMaxDelayMs`.
 */
export function decideRetry(
  destination: Destination,
  test: boolean,
  failedAttempts: number,
  settings: DeliverySettings,
  /** The receiver's `Retry-After` (429 or 503): the next attempt waits at least that long. */
  retryAfterMs?: number,
): RetryDecision {
  if (test) return { retry: false, reason: 'Test message: failed attempts are recorded and not retried' };
  const max = destination.retryMaxDelayMs ?? settings.retryMaxDelayMs;
  // Honoured up to ten times the longest wait of the schedule, so a receiver cannot park a
  // queue for days with one header.
  const asked = Math.min(retryAfterMs ?? 0, max * 10);
  if (destination.environment === 'production') {
    const initial = destination.retryInitialDelayMs ?? settings.retryInitialDelayMs;
    return { retry: true, delayMs: Math.max(asked, productionDelay(failedAttempts, initial, max)) };
  }
  if (failedAttempts < 2)
    return { retry: true, delayMs: Math.max(asked, settings.nonProductionRetryDelayMs) };
  return { retry: false, reason: `${destination.environment} destination: failed after one retry` };
}

/**
 * Wait before the next attempt after `failedAttempts` failures: at once after the first, then
 * Fibonacci multiples of `initialMs` (10, 10, 20, 30, 50, 80 s ...) capped at `maxMs`.
 */
export function productionDelay(failedAttempts: number, initialMs: number, maxMs: number): number {
  if (failedAttempts <= 1) return 0;
  let previous = 0;
  let current = 1;
  // Stops as soon as the cap is reached, so a log failing for weeks costs no more to schedule.
  for (let i = 2; i < failedAttempts && current * initialMs < maxMs; i++)
    [previous, current] = [current, previous + current];
  return Math.min(current * initialMs, maxMs);
}
