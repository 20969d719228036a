import type { DatabaseSync } from 'node:sqlite';
import { StoreUnavailableError } from '../../errors.ts';

const LAZY_MS = 50;

interface Operation {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: every write asked for during one turn of the event loop shares one transaction
 * and so one fsync. If one operation throws, the batch is rolled back and every operation is
 * replayed in a transaction of its own, so only the failing one fails (operations must be plain
 * database work that can run again). A promise resolves only after COMMIT returned, which with
 * `synchronous=FULL` means the WAL was fsynced.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  #pending: Operation[] = [];
  #scheduled = false;
  #lazyTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  run<T>(operation: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run: operation, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * A write that may wait up to `LAZY_MS` for company: it rides along with the next commit, so a
   * stream of such writes (query logs) does not cost an fsync per turn of the event loop.
   */
  runLazy<T>(operation: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run: operation, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled && !this.#lazyTimer) this.#lazyTimer = setTimeout(() => this.flush(), LAZY_MS);
    });
  }

  /** Commits whatever is pending now; also called on close so nothing waits forever. */
  flush(): void {
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
      this.#transaction(() => {
        for (const op of batch) values.push(op.run());
      });
    } catch (error) {
      if (error instanceof StoreUnavailableError || batch.length === 1) {
        for (const op of batch) op.reject(error);
        return;
      }
      // One operation failed and the batch was rolled back: replay each alone, so only the
      // failing one fails.
      for (const op of batch) {
        try {
          let value: unknown;
          this.#transaction(() => (value = op.run()));
          op.resolve(value);
        } catch (failure) {
          op.reject(failure);
        }
      }
      return;
    }
    batch.forEach((op, i) => op.resolve(values[i]));
  }

  /**
   * Runs `work` in one IMMEDIATE transaction. An error thrown by `work` is rethrown as it is
   * after the rollback; a failure to begin or commit becomes a StoreUnavailableError.
   */
  #transaction(work: () => void): void {
    const db = this.#db;
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw new StoreUnavailableError(`cannot begin transaction: ${String(error)}`);
    }
    try {
      work();
    } catch (error) {
      db.exec('ROLLBACK');
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
    }
  }

  close(): void {
    this.flush();
    this.#closed = true;
  }
}
