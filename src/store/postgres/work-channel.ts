import type pg from 'pg';
import { createClient } from './pg-pool.ts';

const CHANNEL = 'switchboard_work';
/** Wake-ups reach other instances at most this much later than the work's commit. */
const SIGNAL_INTERVAL_MS = 10;

/**
 * Wakes idle instances when one of them stores work (LISTEN/NOTIFY), so delivery starts at once
 * instead of at the next poll.
 *
 * NOTIFY is sent after the work's commit, not inside its transaction: inside, it would take
 * PostgreSQL's global notify lock at every commit and serialize the accept path. Signals are
 * coalesced (at most one per 10 ms), and a lost one costs a poll interval,
 * never a message: the database, not the signal, says what is due.
 */
export class WorkChannel {
  readonly #url: string;
  readonly #pool: pg.Pool;
  readonly #listeners = new Set<() => void>();
  #client: pg.Client | undefined;
  #closed = false;
  #sending = false;
  #again = false;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(url: string, pool: pg.Pool) {
    this.#url = url;
    this.#pool = pool;
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#client && !this.#retry) void this.#listen();
    return () => this.#listeners.delete(listener);
  }

  signal(): void {
    if (this.#closed) return;
    if (this.#sending) {
      this.#again = true;
      return;
    }
    this.#sending = true;
    this.#pool
      .query(`NOTIFY ${CHANNEL}`)
      .catch(() => undefined)
      .finally(() => {
        // At most one NOTIFY per interval: each is a commit that takes PostgreSQL's notify lock,
        // and under load one per accepted message would cost as much as the messages.
        const timer = setTimeout(() => {
          this.#sending = false;
          if (this.#again) {
            this.#again = false;
            this.signal();
          }
        }, SIGNAL_INTERVAL_MS);
        timer.unref();
      });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #wake(): void {
    for (const listener of this.#listeners) listener();
  }

  async #listen(): Promise<void> {
    if (this.#closed) return;
    const client = createClient(this.#url);
    const reconnect = (): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      void client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', reconnect);
    client.on('end', reconnect);
    client.on('notification', () => this.#wake());
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.#failures = 0;
      // Work stored while no one listened is found by looking now.
      this.#wake();
    } catch {
      reconnect();
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    this.#failures++;
    const delay = Math.min(10_000, 100 * 2 ** Math.min(this.#failures, 7));
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.#listen();
    }, delay);
    this.#retry.unref();
  }
}
