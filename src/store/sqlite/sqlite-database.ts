import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Database, Executor, Params, Row, SqlValue } from '../sql/database.ts';
import { sqliteDialect } from '../sql/dialect.ts';
import { numberParams, valuesInOrder } from '../sql/named-params.ts';
import { GroupCommit, type Operation } from './group-commit.ts';

interface Prepared {
  statement: StatementSync;
  names: readonly string[];
}

/**
 * One SQLite file in WAL mode with `synchronous=FULL`, written through group commit. node:sqlite
 * is synchronous, so every statement runs to completion where it is called: the `*Sync` methods
 * are for this store's own hot paths; the async `Database` methods are for the SQL shared with
 * PostgreSQL (`../sql/`), their promises settled before they are returned.
 */
export class SqliteDatabase implements Database {
  readonly dialect = sqliteDialect;
  readonly #db: DatabaseSync;
  readonly #writes: GroupCommit;
  readonly #statements = new Map<string, Prepared>();
  readonly #tx: Executor = {
    all: (sql, params) => settled(() => this.allSync(sql, params)),
    get: (sql, params) => settled(() => this.getSync(sql, params)),
    run: (sql, params) => settled(() => this.runSync(sql, params)),
  };

  /**
   * `checkpoints: 'external'`: this connection never checkpoints the WAL; another connection
   * must (see checkpointer.ts). By default SQLite checkpoints at commits past 1,000 WAL pages.
   */
  constructor(path: string, options: { checkpoints?: 'auto' | 'external' } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
      PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;`);
    if (options.checkpoints === 'external') this.#db.exec('PRAGMA wal_autocheckpoint = 0');
    // When the WAL starts over after a burst, its file is cut back to this: the disk a burst
    // took is given back, and the room the disk guard keeps for it (disk-guard.ts) with it.
    this.#db.exec(`PRAGMA journal_size_limit = ${4 * 1024 * 1024}`);
    this.#writes = new GroupCommit(this.#db);
  }

  #prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (!prepared) {
      const numbered = numberParams(sql, '?');
      prepared = { statement: this.#db.prepare(numbered.text), names: numbered.names };
      this.#statements.set(sql, prepared);
    }
    return prepared;
  }

  #args(prepared: Prepared, params: Params): SQLInputValue[] {
    return valuesInOrder(prepared.names, params, toSqlite) as SQLInputValue[];
  }

  getSync<T = Row>(sql: string, params: Params = {}): T | undefined {
    const prepared = this.#prepare(sql);
    return prepared.statement.get(...this.#args(prepared, params)) as T | undefined;
  }

  allSync<T = Row>(sql: string, params: Params = {}): T[] {
    const prepared = this.#prepare(sql);
    return prepared.statement.all(...this.#args(prepared, params)) as T[];
  }

  runSync(sql: string, params: Params = {}): number {
    const prepared = this.#prepare(sql);
    return Number(prepared.statement.run(...this.#args(prepared, params)).changes);
  }

  /** Runs statements without parameters, as they are (migrations). */
  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /** Synchronous work group-committed with the other writes of this turn of the event loop. */
  commit<T>(work: Operation<T>): Promise<T> {
    return this.#writes.run(work);
  }

  /** Like `commit`, but the work may wait up to 50 ms for company (see GroupCommit.runLazy). */
  commitLazily<T>(work: Operation<T>): Promise<T> {
    return this.#writes.runLazy(work);
  }

  all<T = Row>(sql: string, params?: Params): Promise<T[]> {
    return settled(() => this.#outside(() => this.allSync<T>(sql, params)));
  }

  get<T = Row>(sql: string, params?: Params): Promise<T | undefined> {
    return settled(() => this.#outside(() => this.getSync<T>(sql, params)));
  }

  write(sql: string, params?: Params): Promise<number> {
    return this.#writes.run(() => this.runSync(sql, params));
  }

  transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    return this.#writes.run(() => work(this.#tx));
  }

  /** A read on the connection while a group commit is open would see its uncommitted rows. */
  #outside<T>(read: () => T): T {
    if (this.#writes.inTransaction) throw new Error('a read ran inside an open group commit');
    return read();
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    await this.#writes.close();
    this.#db.close();
  }
}

/** node:sqlite binds no booleans: they are stored as 1 and 0, as the schema's INTEGER flags. */
function toSqlite(value: SqlValue | undefined): SQLInputValue {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** A promise of what `work` returns or throws, settled now. */
function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error as Error);
  }
}
