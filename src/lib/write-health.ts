/**
 * Whether storage takes writes (readiness, issue 15): a write that failed for the storage's sake
 * (a full disk, the database gone) marks it failing, with why and since when; a write that
 * succeeds again clears it. `/readyz` answers 503 meanwhile, so a load balancer stops sending
 * writes that would only be refused, and probes the store itself to see it recover.
 */
export class WriteHealth {
  #failure: { reason: string; since: number; lastAt: number } | undefined;

  /** `now` (the clock's) dates the failure; `lastAt` is real monotonic time, for probing. */
  failed(reason: string, now: number): void {
    this.#failure ??= { reason, since: now, lastAt: 0 };
    this.#failure.reason = reason;
    this.#failure.lastAt = performance.now();
  }

  succeeded(): void {
    this.#failure = undefined;
  }

  get failure(): { reason: string; since: number; lastAt: number } | undefined {
    return this.#failure;
  }
}
