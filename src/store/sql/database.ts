import type { Dialect } from './dialect.ts';

export type SqlValue = string | number | bigint | boolean | null | Uint8Array;
/** Parameters by name, as `:name` in the SQL; a missing one is NULL. */
export type Params = Readonly<Record<string, SqlValue | undefined>>;
export type Row = Record<string, unknown>;

/** Reads, outside or inside a transaction. */
export interface Reader {
  all<T = Row>(sql: string, params?: Params): Promise<T[]>;
  get<T = Row>(sql: string, params?: Params): Promise<T | undefined>;
}

/** Statements on one connection, or inside one transaction. */
export interface Executor extends Reader {
  /** Runs a statement and answers how many rows it changed. */
  run(sql: string, params?: Params): Promise<number>;
}

/**
 * The connection to a database as the SQL in this folder sees it: both stores implement it
 * (`sqlite/sqlite-database.ts`, `postgres/pg-database.ts`), so an operation is written once.
 * SQL uses `:name` parameters; each implementation binds them by position.
 */
export interface Database extends Reader {
  readonly dialect: Dialect;
  /** One write statement, durably committed (alone, or group-committed with others). */
  write(sql: string, params?: Params): Promise<number>;
  /**
   * Runs `work` in one transaction and resolves once it is durably committed. `work` may be run
   * more than once (a deadlock retried, a group commit replayed), so it must be plain database
   * work: no calls out, no side effects but its statements. Throwing `Rollback` rolls back and
   * answers its value.
   */
  transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T>;
}

/** Thrown inside a transaction to roll it back and still answer `value`. */
export class Rollback<T> {
  readonly value: T;
  constructor(value: T) {
    this.value = value;
  }
}
