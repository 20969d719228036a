import type { DatabaseSync } from 'node:sqlite';
import { StoreUnavailableError } from '../../errors.ts';
import { Rollback } from '../sql/database.ts';

const LAZY_MS = 50;

/**
 * An operation of a group commit: synchronous database work, or async work over an executor
 * whose promises are already settled (`SqliteDatabase`'s), so that a transaction never waits
 * for anything but its own statements.
 */
export type Operation<T> = () => T | Promise<T>;

interface Pending {
  run: Operation<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: every write asked for during one turn of the event loop shares one transaction
 * and so one fsync. If one operation throws (or rolls back), the batch is rolled back and every
 * operation is replayed in a transaction of its own, so only that one fails (operations must be
 * plain database work that can run again). A promise resolves only after COMMIT returned, which
 * with `synchronous=FULL` means the WAL was fsynced.
 *
 * An operation may be async only over statements that complete synchronously: awaiting them
 * runs microtasks, never the event loop, so no other read or write can see or join the open
 * transaction. `inTransaction` lets readers check that this holds.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  #pending: Pending[] = [];
  #scheduled = false;
  #lazyTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #open = false;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** True while a transaction is open (between BEGIN and COMMIT or ROLLBACK). */
  get inTransaction(): boolean {
    return this.#open;
  }

  run<T>(operation: Operation<T>): Promise<T> {
    return this.#add(operation, () => {
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /**
   * A write that may wait up to `LAZY_MS` for company: it rides along with the next commit, so a
   * stream of such writes (query logs) does not cost an fsync per turn of the event loop.
   */
  runLazy<T>(operation: Operation<T>): Promise<T> {
    return this.#add(operation, () => {
      if (!this.#scheduled && !this.#lazyTimer)
        this.#lazyTimer = setTimeout(() => void this.flush(), LAZY_MS);
    });
  }

  #add<T>(operation: Operation<T>, schedule: () => void): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run: operation, resolve: resolve as (value: unknown) => void, reject });
      schedule();
    });
  }

  /** Commits whatever is pending now; also called on close so nothing waits forever. */
  async flush(): Promise<void> {
    this.#scheduled = false;
    clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    // Fast path: the whole batch in one transaction. Savepoints around every operation would
    // cost two more statements each; failures are rare, so they are handled by replaying.
    const values: unknown[] = [];
    try {
      await this.#transaction(async () => {
        for (const op of batch) {
          const value = op.run();
          values.push(isThenable(value) ? await value : value);
        }
      });
    } catch (error) {
      if (error instanceof StoreUnavailableError || batch.length === 1) {
        for (const op of batch) settle(op, error);
        return;
      }
      // One operation failed and the batch was rolled back: replay each alone, so only the
      // failing one fails. Their promises settle only once every replay is over: settled in
      // between, a caller's next step (a read) would run inside the next replay's transaction.
      const outcomes: (() => void)[] = [];
      for (const op of batch) {
        try {
          let value: unknown;
          await this.#transaction(async () => {
            value = await op.run();
          });
          outcomes.push(() => op.resolve(value));
        } catch (failure) {
          outcomes.push(() => settle(op, failure));
        }
      }
      for (const outcome of outcomes) outcome();
      return;
    }
    batch.forEach((op, i) => op.resolve(values[i]));
  }

  /**
   * Runs `work` in one IMMEDIATE transaction. An error thrown by `work` is rethrown as it is
   * after the rollback; a failure to begin or commit becomes a StoreUnavailableError.
   */
  async #transaction(work: () => Promise<void>): Promise<void> {
    const db = this.#db;
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw new StoreUnavailableError(`cannot begin transaction: ${String(error)}`);
    }
    this.#open = true;
    try {
      await work();
    } catch (error) {
      db.exec('ROLLBACK');
      this.#open = false;
      throw error;
    }
    try {
      db.exec('COMMIT');
    } catch (error) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // The transaction may already be gone; the commit error is what matters.
      }
      throw new StoreUnavailableError(`commit failed: ${String(error)}`);
    } finally {
      this.#open = false;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** A rolled-back operation answers its value; any other error fails it. */
function settle(op: Pending, error: unknown): void {
  if (error instanceof Rollback) op.resolve(error.value);
  else op.reject(error);
}
