import { createHash } from 'node:crypto';
import type pg from 'pg';
import { Rollback, type Database, type Executor, type Params, type Row } from '../sql/database.ts';
import { postgresDialect } from '../sql/dialect.ts';
import { numberParams, valuesInOrder, type NumberedSql } from '../sql/named-params.ts';
import { clean, isRetryable, mapError, withConnection } from './pg-pool.ts';

/** Statements with `$1` parameters, as this store's own hot-path SQL is written. */
export type PositionalQuery = <T = Row>(sql: string, params?: unknown[]) => Promise<T[]>;

/**
 * The pool as the shared SQL (`../sql/`) and this store's own statements see it. Statements with
 * parameters run as named prepared statements: each connection parses and plans one once, which
 * is most of PostgreSQL's work for the short statements of the delivery path. Connection-level
 * failures become StoreUnavailableError (see pg-pool.ts).
 */
export class PgDatabase implements Database {
  readonly dialect = postgresDialect;
  readonly #pool: pg.Pool;
  readonly #numbered = new Map<string, NumberedSql>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** One statement with positional parameters, outside any transaction. */
  readonly query: PositionalQuery = async <T>(sql: string, params?: unknown[]) => {
    try {
      return (await this.#pool.query(statement(sql, params))).rows as T[];
    } catch (error) {
      throw mapError(error);
    }
  };

  /** A single-statement write, run again on a serialization failure or deadlock. */
  async queryRetrying<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.query<T>(sql, params);
      } catch (error) {
        if (!isRetryable(error) || attempt >= 5) throw error;
      }
    }
  }

  #named(sql: string, params: Params = {}): [string, unknown[]] {
    let numbered = this.#numbered.get(sql);
    if (!numbered) {
      numbered = numberParams(sql, '$');
      this.#numbered.set(sql, numbered);
    }
    return [numbered.text, valuesInOrder(numbered.names, params, (v) => v ?? null)];
  }

  all<T = Row>(sql: string, params?: Params): Promise<T[]> {
    return this.query<T>(...this.#named(sql, params));
  }

  async get<T = Row>(sql: string, params?: Params): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async write(sql: string, params?: Params): Promise<number> {
    const [text, values] = this.#named(sql, params);
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#pool.query(statement(text, values))).rowCount ?? 0;
      } catch (error) {
        if (!isRetryable(error) || attempt >= 5) throw mapError(error);
      }
    }
  }

  transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    return this.positionalTransaction((tx) =>
      work({
        all: <R>(sql: string, params?: Params) => tx.query<R>(...this.#named(sql, params)),
        get: async <R>(sql: string, params?: Params) => (await tx.query<R>(...this.#named(sql, params)))[0],
        run: (sql, params) => tx.changes(...this.#named(sql, params)),
      }),
    );
  }

  /** Runs `work` in one transaction, again on a serialization failure or deadlock. */
  async positionalTransaction<T>(work: (tx: PositionalTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await withConnection(this.#pool, async (client, broken) => {
        const tx: PositionalTransaction = {
          query: async <R>(sql: string, params?: unknown[]) =>
            (await client.query(statement(sql, params))).rows as R[],
          changes: async (sql, params) => (await client.query(statement(sql, params))).rowCount ?? 0,
        };
        try {
          await client.query('BEGIN');
          const value = await work(tx);
          await client.query('COMMIT');
          return { value };
        } catch (error) {
          await client.query('ROLLBACK').catch(broken);
          if (error instanceof Rollback) return { value: error.value as T };
          if (isRetryable(error) && attempt < 5) return 'again' as const;
          throw mapError(error);
        }
      });
      if (outcome !== 'again') return outcome.value;
    }
  }
}

/** Statements inside one transaction, with positional parameters. */
export interface PositionalTransaction {
  query: PositionalQuery;
  /** Runs a statement and answers how many rows it changed. */
  changes(sql: string, params?: unknown[]): Promise<number>;
}

const names = new Map<string, string>();

/**
 * A query with parameters runs as a named prepared statement; statements without parameters
 * (migrations hold several) go as simple queries.
 */
function statement(sql: string, params?: unknown[]): pg.QueryConfig {
  if (!params || params.length === 0) return { text: sql };
  let name = names.get(sql);
  if (!name) {
    name = `sb_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    names.set(sql, name);
  }
  return { name, text: sql, values: clean(params) };
}
