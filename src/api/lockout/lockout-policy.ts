/**
 * Brute-force protection of the token endpoints (issue 15): the rule, pure. A subject (a client
 * ID, or a client IP) that fails `maxFailures` times within `windowMs` is locked for `lockMs`;
 * each further lockout doubles that, up to `maxLockMs`; a lockout long past (`maxLockMs` after it
 * ended) is forgotten, and a success forgets everything.
 */
export interface LockoutRule {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  maxLockMs: number;
}

export interface LockoutState {
  /** Failures counted since `since` (the window's start). */
  failures: number;
  since: number;
  /** Until when requests are refused (0: not locked). */
  lockedUntil: number;
  /** Lockouts so far, for the doubling. */
  lockouts: number;
}

/** How long the subject is still locked, in ms (0: it may try). */
export function lockedFor(state: LockoutState | undefined, now: number): number {
  return state ? Math.max(0, state.lockedUntil - now) : 0;
}

/** The state after one more failure at `now`. */
export function afterFailure(state: LockoutState | undefined, now: number, rule: LockoutRule): LockoutState {
  const lockouts = state && now - state.lockedUntil < rule.maxLockMs ? state.lockouts : 0;
  const fresh = !state || now - state.since >= rule.windowMs;
  const failures = (fresh ? 0 : state.failures) + 1;
  const since = fresh ? now : state.since;
  if (failures < rule.maxFailures) return { failures, since, lockedUntil: state?.lockedUntil ?? 0, lockouts };
  const lockMs = Math.min(rule.lockMs * 2 ** lockouts, rule.maxLockMs);
  return { failures: 0, since: now, lockedUntil: now + lockMs, lockouts: lockouts + 1 };
}

/** How long a state must be kept for the rule to see it again (the doubling's memory included). */
export function keepFor(state: LockoutState, now: number, rule: LockoutRule): number {
  return Math.max(state.since + rule.windowMs, state.lockedUntil + rule.maxLockMs) - now;
}
