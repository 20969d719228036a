/** Hits counted in the current fixed window and in the one before it. */
export interface WindowCounts {
  windowStart: number;
  current: number;
  previous: number;
}

export type RateDecision =
  { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

/**
 * A rolling window from two fixed ones: the previous window's hits count in proportion to how
 * much of it still lies inside the rolling window. Exact enough for a rate limit, and it needs
 * two counters per client instead of one timestamp per request.
 */
export function evaluate(limit: number, windowMs: number, now: number, counts: WindowCounts): RateDecision {
  const elapsed = Math.max(0, now - counts.windowStart);
  const estimate = counts.previous * (1 - elapsed / windowMs) + counts.current;
  if (estimate <= limit) return { allowed: true, remaining: Math.floor(limit - estimate) };
  let waitMs: number;
  if (counts.current <= limit && counts.previous > 0)
    // Within this window: wait until enough of the previous window has slid out.
    waitMs = windowMs * (1 - (limit - counts.current) / counts.previous) - elapsed;
  // Into the next window: this window becomes the previous one and slides out in turn.
  else waitMs = counts.windowStart + windowMs - now + windowMs * (1 - limit / counts.current);
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}

export function windowStartOf(now: number, windowMs: number): number {
  return Math.floor(now / windowMs) * windowMs;
}

/** Counts a hit for a key and returns the counts of its two windows. */
export interface RateCounter {
  hit(key: string, now: number, windowMs: number): Promise<WindowCounts>;
  close(): Promise<void>;
}

/** The counter of one process (the embedded store runs one). */
export class MemoryRateCounter implements RateCounter {
  readonly #counts = new Map<string, WindowCounts>();
  #sweptAt = 0;

  async hit(key: string, now: number, windowMs: number): Promise<WindowCounts> {
    const start = windowStartOf(now, windowMs);
    let counts = this.#counts.get(key);
    if (!counts || counts.windowStart < start - windowMs)
      counts = { windowStart: start, current: 0, previous: 0 };
    else if (counts.windowStart < start)
      counts = { windowStart: start, current: 0, previous: counts.current };
    counts.current++;
    this.#counts.set(key, counts);
    if (now - this.#sweptAt > windowMs) this.#sweep(now, windowMs);
    return counts;
  }

  /** Forgets clients not seen for two windows, so memory does not grow with every IP ever seen. */
  #sweep(now: number, windowMs: number): void {
    this.#sweptAt = now;
    const stale = windowStartOf(now, windowMs) - windowMs;
    for (const [key, counts] of this.#counts) if (counts.windowStart < stale) this.#counts.delete(key);
  }

  async close(): Promise<void> {
    this.#counts.clear();
  }
}
