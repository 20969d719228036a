import { StoreUnavailableError } from '../../errors.ts';

export interface BatcherOptions<In, Out> {
  /** Writes the batch in one statement (one round trip, one commit); results in input order. */
  execute: (batch: In[]) => Promise<Out[]>;
  /** Whether `item` may join `batch` (it must wait for a later batch otherwise). */
  admits: (batch: In[], item: In) => boolean;
  maxInFlight: number;
}

interface Waiting<In, Out> {
  item: In;
  resolve: (value: Out) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for PostgreSQL: the writes handed in during one turn of the event loop go as one
 * statement, at most `maxInFlight` statements at once. Each promise resolves only after its
 * statement committed. An item a batch does not admit waits until a batch has finished. If a
 * batch fails for any reason but an
 * unreachable database, each of its items is written again alone, so one bad item fails alone.
 */
export class Batcher<In, Out> {
  readonly #options: BatcherOptions<In, Out>;
  #waiting: Waiting<In, Out>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(options: BatcherOptions<In, Out>) {
    this.#options = options;
  }

  run(item: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#waiting.length === 0 || this.#inFlight >= this.#options.maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#waiting.length > 0 && this.#inFlight < this.#options.maxInFlight) {
      const batch: Waiting<In, Out>[] = [];
      const items: In[] = [];
      const rest: Waiting<In, Out>[] = [];
      for (const waiting of this.#waiting) {
        if (items.length === 0 || this.#options.admits(items, waiting.item)) {
          batch.push(waiting);
          items.push(waiting.item);
        } else rest.push(waiting);
      }
      this.#waiting = rest;
      this.#inFlight++;
      void this.#send(batch).finally(() => {
        this.#inFlight--;
        this.#schedule();
      });
      // What this batch did not admit goes once a batch has finished, not beside this one.
      if (rest.length > 0) break;
    }
  }

  async #send(batch: Waiting<In, Out>[]): Promise<void> {
    try {
      const results = await this.#options.execute(batch.map((w) => w.item));
      batch.forEach((waiting, i) => waiting.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1 || error instanceof StoreUnavailableError) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      await Promise.all(
        batch.map(async (waiting) => {
          try {
            waiting.resolve((await this.#options.execute([waiting.item]))[0]!);
          } catch (alone) {
            waiting.reject(alone);
          }
        }),
      );
    }
  }
}
