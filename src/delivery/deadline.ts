/**
 * The abort signal of one outbound call: it fires after `timeoutMs`, or when `outer` (engine
 * shutdown, a caller who hung up) fires. One controller, one timer and one listener: the same
 * with AbortSignal.timeout and AbortSignal.any costs several times as much, on a path taken
 * thousands of times a second. `clear()` must run when the call is over.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #outer: AbortSignal | undefined;
  readonly #onOuter = (): void => this.#controller.abort();
  #timedOut = false;

  constructor(timeoutMs: number, outer?: AbortSignal) {
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort();
    }, timeoutMs);
    this.#outer = outer;
    if (outer?.aborted) this.#controller.abort();
    else outer?.addEventListener('abort', this.#onOuter, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether it fired because the time ran out (not because `outer` did). */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#outer?.removeEventListener('abort', this.#onOuter);
  }
}
