import { ApiError } from '../../errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { afterFailure, keepFor, lockedFor, type LockoutRule } from './lockout-policy.ts';
import type { LockoutStore } from './lockout-store.ts';

/**
 * Failed client authentications at `/v2/auth/token` and `/auth/authenticate`, counted per
 * client ID and per client IP (lockout-policy.ts has the rule; an IP, which many clients may
 * share behind one NAT, gets `ipMaxFailures`). A locked subject gets 429 with
 * `Retry-After` before its secret is even checked, so guessing stops paying. If the store fails
 * (Redis down) requests go through and the failure is logged: this guard must not take sign-in
 * down. Concurrent failures may be counted once between instances (a read, then a write): the
 * limit is approximate by one or two, not by orders of magnitude.
 */
export class FailedSignIns {
  readonly #store: LockoutStore;
  readonly #rule: LockoutRule;
  readonly #ipRule: LockoutRule;
  readonly #now: () => number;
  readonly #logger: Logger;

  constructor(deps: {
    store: LockoutStore;
    rule: LockoutRule;
    ipMaxFailures: number;
    now: () => number;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#rule = deps.rule;
    this.#ipRule = { ...deps.rule, maxFailures: deps.ipMaxFailures };
    this.#now = deps.now;
    this.#logger = deps.logger;
  }

  /** Throws 429 while any of the subjects is locked. */
  async check(subjects: string[]): Promise<void> {
    const now = this.#now();
    let wait = 0;
    try {
      for (const subject of subjects) wait = Math.max(wait, lockedFor(await this.#store.get(subject), now));
    } catch (error) {
      this.#logger.warn({ err: error }, 'sign-in lockout: store unavailable; request let through');
      return;
    }
    if (wait > 0)
      throw new ApiError('RATE_LIMITED', 'Too many failed sign-ins; retry after the time in Retry-After', {
        headers: { 'retry-after': String(Math.ceil(wait / 1000)) },
      });
  }

  async failed(subjects: string[]): Promise<void> {
    const now = this.#now();
    try {
      for (const subject of subjects) {
        const rule = subject.startsWith('ip:') ? this.#ipRule : this.#rule;
        const state = afterFailure(await this.#store.get(subject), now, rule);
        await this.#store.set(subject, state, keepFor(state, now, rule));
        if (state.lockedUntil > now && state.failures === 0)
          this.#logger.warn(
            { subject, lockedForMs: state.lockedUntil - now },
            'sign-in lockout: too many failed client authentications',
          );
      }
    } catch (error) {
      this.#logger.warn({ err: error }, 'sign-in lockout: store unavailable; failure not counted');
    }
  }

  /** A success forgets the client's failures (its IP's wear off with the window). */
  async succeeded(subjects: string[]): Promise<void> {
    try {
      for (const subject of subjects) if (subject.startsWith('client:')) await this.#store.delete(subject);
    } catch (error) {
      this.#logger.warn({ err: error }, 'sign-in lockout: store unavailable');
    }
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}

/** The subjects of one sign-in: its client ID (when it named one) and its IP. */
export function signInSubjects(clientId: string | undefined, ip: string): string[] {
  return clientId ? [`client:${clientId}`, `ip:${ip}`] : [`ip:${ip}`];
}
