/**
 * A leased queue's deadline on this process's monotonic clock (SPEC 5.2 across instances). The
 * lease in the store expires `leaseMs` after it was taken or last renewed; another instance may
 * then take the queue over. A holder that stalled (a frozen VM, a paused container, a long GC)
 * cannot tell from its own wall clock how long it was away, so it trusts the lease only until
 * the time it *asked* for the claim or renewal, plus `leaseMs`, minus a safety margin, measured
 * with `performance.now()` (monotonic, and it counts the stall). Past that: no attempt starts
 * (`held()` is checked before every send) and the one in flight is aborted (`signal`), so a
 * destination never gets a stale attempt after the next holder's later logs.
 */
export class LeaseFence {
  readonly #controller = new AbortController();
  #validUntil: number;
  #suspended = false;
  #timer: NodeJS.Timeout | undefined;

  /** `validUntil` on `performance.now()`'s clock. */
  constructor(validUntil: number) {
    this.#validUntil = validUntil;
    this.#arm();
  }

  /** How long a lease of `leaseMs` is trusted after it was asked for: a fifth less, at most 5 s less. */
  static trustedFor(leaseMs: number): number {
    return leaseMs - Math.min(5_000, Math.floor(leaseMs / 5));
  }

  /** Aborts when the deadline passes (or the lease is known lost). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether an attempt may start now. Checked when the process runs again after any stall. */
  held(): boolean {
    if (!this.#controller.signal.aborted && performance.now() >= this.#validUntil) this.expire();
    return !this.#controller.signal.aborted && !this.#suspended;
  }

  /** A renewal asked for at `askedAt` succeeded: trusted until `askedAt` + the trusted span. */
  extend(validUntil: number): void {
    if (this.#controller.signal.aborted || validUntil <= this.#validUntil) return;
    this.#validUntil = validUntil;
    this.#arm();
  }

  /** A renewal failed: no new attempt starts; the one in flight may finish until the deadline. */
  suspend(): void {
    this.#suspended = true;
  }

  /** The lease is lost (or its time is up): abort what is in flight. */
  expire(): void {
    clearTimeout(this.#timer);
    this.#controller.abort(new Error('lease deadline reached'));
  }

  close(): void {
    clearTimeout(this.#timer);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const wait = Math.max(0, this.#validUntil - performance.now());
    // Re-checked when it fires: after a stall the timer fires late, and the deadline decides.
    this.#timer = setTimeout(
      () => (performance.now() >= this.#validUntil ? this.expire() : this.#arm()),
      wait,
    );
    this.#timer.unref();
  }
}
