import type pg from 'pg';
import { createClient } from './pg-pool.ts';

/** `work`: new work to deliver; `catalog`: the catalog changed (see catalog/catalog-refresher.ts). */
export type Channel = 'work' | 'catalog';
const CHANNELS: Record<Channel, string> = { work: 'switchboard_work', catalog: 'switchboard_catalog' };
/** Wake-ups reach other instances at most this much later than the work's commit. */
const SIGNAL_INTERVAL_MS = 10;
/**
 * A NOTIFY that failed is sent again this many times, further apart each time (up to a second):
 * connections the database cut fail one try each until the pool has dropped them all, and a
 * wake-up given up too soon leaves other instances waiting for their next poll (issue 15: a CI
 * run lost one after a cut, with three tries 10 ms apart). About 15 s in all.
 */
const MAX_SIGNAL_RETRIES = 20;
const MAX_SIGNAL_RETRY_MS = 1_000;

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
  readonly #listeners: Record<Channel, Set<() => void>> = { work: new Set(), catalog: new Set() };
  #client: pg.Client | undefined;
  #closed = false;
  readonly #sending: Record<Channel, { busy: boolean; again: boolean; failures: number }> = {
    work: { busy: false, again: false, failures: 0 },
    catalog: { busy: false, again: false, failures: 0 },
  };
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(url: string, pool: pg.Pool) {
    this.#url = url;
    this.#pool = pool;
  }

  subscribe(listener: () => void, channel: Channel = 'work'): () => void {
    this.#listeners[channel].add(listener);
    if (!this.#client && !this.#retry) void this.#listen();
    return () => this.#listeners[channel].delete(listener);
  }

  signal(channel: Channel = 'work'): void {
    if (this.#closed) return;
    const sending = this.#sending[channel];
    if (sending.busy) {
      sending.again = true;
      return;
    }
    sending.busy = true;
    this.#pool
      .query(`NOTIFY ${CHANNELS[channel]}`)
      .then(
        () => {
          sending.failures = 0;
        },
        () => {
          // Most often a pooled connection the database cut: the pool has dropped it, and the
          // next try gets a fresh one. A few tries, then the poll interval is the fallback.
          if (++sending.failures <= MAX_SIGNAL_RETRIES) sending.again = true;
          else sending.failures = 0;
        },
      )
      .finally(() => {
        // At most one NOTIFY per interval: each is a commit that takes PostgreSQL's notify lock,
        // and under load one per accepted message would cost as much as the messages.
        const wait = Math.min(MAX_SIGNAL_RETRY_MS, SIGNAL_INTERVAL_MS * 2 ** sending.failures);
        const timer = setTimeout(() => {
          sending.busy = false;
          if (sending.again) {
            sending.again = false;
            this.signal(channel);
          }
        }, wait);
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

  #wake(channels: Channel[]): void {
    for (const channel of channels) for (const listener of this.#listeners[channel]) listener();
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
    client.on('notification', (message) =>
      this.#wake(message.channel === CHANNELS.catalog ? ['catalog'] : ['work']),
    );
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNELS.work}; LISTEN ${CHANNELS.catalog}`);
      this.#failures = 0;
      // Work stored (or a catalog changed) while no one listened is found by looking now.
      this.#wake(['work', 'catalog']);
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
