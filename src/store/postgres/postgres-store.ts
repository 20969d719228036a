import { PROBE_WRITE, probeValue } from '../sql/probe-write.ts';
import type pg from 'pg';
import type { Store } from '../store.ts';
import { SqlAlertOutbox } from '../sql/alerts.ts';
import { SqlCatalogStore } from '../sql/catalog.ts';
import { PG_LOCKS, postgresDialect } from '../sql/dialect.ts';
import { SqlOneTimeKeyStore } from '../sql/one-time-keys.ts';
import { SqlOperatorStore } from '../sql/operators.ts';
import { SqlRetentionStore } from '../sql/retention.ts';
import { PgIntake } from './intake.ts';
import { migratePostgres } from './migrate.ts';
import { PgDatabase } from './pg-database.ts';
import { createPool, mapError, withConnection } from './pg-pool.ts';
import { PgQueues } from './queues.ts';
import { WorkChannel } from './work-channel.ts';

export interface PostgresStoreOptions {
  url: string;
  poolSize: number;
}

/**
 * The scale-out store: any number of instances on one PostgreSQL database. Every write is a
 * transaction committed with `synchronous_commit = on`, so a resolved promise means the WAL is
 * flushed; concurrent commits share flushes in PostgreSQL itself (its group commit).
 *
 * Its roles are the SQL shared with the embedded store (`../sql/`) and its own hot paths
 * (intake and queues, batched into single statements). Writes that move a queue lock its row
 * first, then its logs, always in that order.
 */
export class PostgresStore implements Store {
  readonly capabilities = postgresDialect.capabilities;
  readonly catalog: SqlCatalogStore;
  readonly intake: PgIntake;
  readonly queues: PgQueues;
  readonly operators: SqlOperatorStore;
  readonly oneTimeKeys: SqlOneTimeKeyStore;
  readonly alerts: SqlAlertOutbox;
  readonly retention: SqlRetentionStore;
  readonly #pool: pg.Pool;
  readonly #db: PgDatabase;
  readonly #work: WorkChannel;
  readonly #where: string;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.#pool = createPool(options.url, options.poolSize);
    this.#db = new PgDatabase(this.#pool);
    this.#work = new WorkChannel(options.url, this.#pool);
    const url = new URL(options.url);
    this.#where = `${url.host}${url.pathname}`;
    const announceWork = (): void => this.#work.signal();
    // Group commit: about half the connections for attempt records, a quarter for messages; the
    // rest stay free for claims, queries and operators.
    this.intake = new PgIntake(this.#db, {
      maxInFlight: Math.max(1, Math.floor(options.poolSize / 4)),
      announceWork,
    });
    this.queues = new PgQueues(this.#db, {
      maxInFlight: Math.max(1, Math.floor(options.poolSize / 2)),
      announceWork,
    });
    this.catalog = new SqlCatalogStore(this.#db, () => this.#work.signal('catalog'));
    this.operators = new SqlOperatorStore(this.#db, announceWork);
    this.oneTimeKeys = new SqlOneTimeKeyStore(this.#db);
    this.alerts = new SqlAlertOutbox(this.#db);
    this.retention = new SqlRetentionStore(this.#db);
  }

  /** Called when any instance may have stored work this one could deliver. */
  onWork(listener: () => void): () => void {
    return this.#work.subscribe(listener);
  }

  /** Called when any instance may have changed the catalog. */
  onCatalogChange(listener: () => void): () => void {
    return this.#work.subscribe(listener, 'catalog');
  }

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return withConnection(this.#pool, async (client, broken) => {
      try {
        // A session lock, held on this connection while `work` uses others from the pool.
        await client.query('SELECT pg_advisory_lock($1, $2)', [...PG_LOCKS.exclusive]);
        try {
          return await work();
        } finally {
          await client.query('SELECT pg_advisory_unlock($1, $2)', [...PG_LOCKS.exclusive]).catch(broken);
        }
      } catch (error) {
        throw mapError(error);
      }
    });
  }

  migrate(): Promise<void> {
    return migratePostgres(this.#pool, this.#where);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#work.close();
    await this.#pool.end();
  }

  async ping(): Promise<void> {
    await this.#db.query('SELECT 1');
  }

  /** PostgreSQL's disk is the database server's to watch. */
  async checkSpace(): Promise<void> {}

  async probeWrite(): Promise<void> {
    await this.#db.write(PROBE_WRITE, { value: probeValue() });
  }
}
