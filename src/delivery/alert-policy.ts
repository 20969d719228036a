import type { Alert } from '../models/alert.ts';
import type { Attempt, AttemptOutcome } from '../models/log.ts';
import { newId } from '../lib/ids.ts';

/**
 * The alert rule of SPEC 5.5, in one place: a failed attempt that brings its log to
 * `afterAttempts` failures raises `failing`, unless the queue already has an alert open; the
 * next received log of a queue with an open alert raises `recovered`. So alerts are never
 * repeated per attempt. The runner knows whether its queue has an alert open: it holds the
 * queue's lease, and only the lease holder opens or closes one.
 */
export function decideAlert(input: {
  outcome: AttemptOutcome;
  /** The log's attempts so far, this one included. */
  attempts: number;
  alertOpen: boolean;
  afterAttempts: number;
}): Alert['kind'] | null {
  if (input.outcome === 'failed')
    return !input.alertOpen && input.attempts >= input.afterAttempts ? 'failing' : null;
  return input.alertOpen ? 'recovered' : null;
}

/** What a failed attempt's alert says went wrong. */
export function describeFailure(attempt: { error: string | null; statusCode: number | null }): string {
  if (attempt.error) return attempt.error;
  return attempt.statusCode === null ? 'failed' : `HTTP ${attempt.statusCode}`;
}

/** The alert an attempt of a queue's log raised, as the attempt's record writes it. */
export function newAlert(
  queue: { orgId: string; destinationId: string },
  attempt: Attempt,
  kind: Alert['kind'],
  at: number,
): Alert {
  return {
    id: newId(),
    orgId: queue.orgId,
    destinationId: queue.destinationId,
    logId: attempt.logId,
    kind,
    attempts: attempt.number,
    error: kind === 'failing' ? describeFailure(attempt) : null,
    createdAt: at,
    sentAt: null,
    channels: [],
  };
}
