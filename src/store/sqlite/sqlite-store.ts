import { PROBE_WRITE, probeValue } from '../sql/probe-write.ts';
import type { Store } from '../store.ts';
import { SqlAlertOutbox } from '../sql/alerts.ts';
import { SqlCatalogStore } from '../sql/catalog.ts';
import { loadMigrations, pendingMigrations } from '../sql/migrations.ts';
import { SqlOneTimeKeyStore } from '../sql/one-time-keys.ts';
import { SqlOperatorStore } from '../sql/operators.ts';
import { SqlRetentionStore } from '../sql/retention.ts';
import { sqliteDialect } from '../sql/dialect.ts';
import { SqliteIntake } from './intake.ts';
import { SqliteQueues } from './queues.ts';
import { SqliteDatabase } from './sqlite-database.ts';
import { DiskGuard } from './disk-guard.ts';

const MIGRATIONS = new URL('./migrations/', import.meta.url);

/**
 * The embedded store: one SQLite file (see SqliteDatabase), its roles made of the SQL shared
 * with PostgreSQL (`../sql/`) and of its own hot paths (intake, queues). The server runs it in a
 * thread of its own (`worker-store.ts`); tests may use it directly.
 */
export class SqliteStore implements Store {
  readonly capabilities = sqliteDialect.capabilities;
  readonly catalog: SqlCatalogStore;
  readonly intake: SqliteIntake;
  readonly queues: SqliteQueues;
  readonly operators: SqlOperatorStore;
  readonly oneTimeKeys: SqlOneTimeKeyStore;
  readonly alerts: SqlAlertOutbox;
  readonly retention: SqlRetentionStore;
  readonly #db: SqliteDatabase;
  readonly #path: string;
  readonly #disk: DiskGuard | undefined;

  /** `diskFreeLimitBytes`: see `DiskGuard` (none for an in-memory database, or when 0 or unset). */
  constructor(
    path: string,
    options: { checkpoints?: 'auto' | 'external'; diskFreeLimitBytes?: number } = {},
  ) {
    this.#path = path;
    this.#db = new SqliteDatabase(path, options);
    this.#disk =
      path !== ':memory:' && options.diskFreeLimitBytes
        ? new DiskGuard(path, options.diskFreeLimitBytes)
        : undefined;
    this.catalog = new SqlCatalogStore(this.#db);
    this.intake = new SqliteIntake(this.#db, this.#disk);
    this.queues = new SqliteQueues(this.#db);
    this.operators = new SqlOperatorStore(this.#db);
    this.oneTimeKeys = new SqlOneTimeKeyStore(this.#db);
    this.alerts = new SqlAlertOutbox(this.#db);
    this.retention = new SqlRetentionStore(this.#db);
  }

  /** Each migration in its own transaction with the row that records it. */
  async migrate(): Promise<void> {
    const db = this.#db;
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const applied = db.allSync<{ id: number }>('SELECT id FROM schema_migrations').map((r) => r.id);
    for (const migration of pendingMigrations(loadMigrations(MIGRATIONS), applied, this.#path)) {
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const statement of migration.statements) db.exec(statement);
        db.runSync('INSERT INTO schema_migrations (id, name) VALUES (:id, :name)', {
          id: migration.id,
          name: migration.name,
        });
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    }
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  async ping(): Promise<void> {
    await this.#db.get('SELECT 1 AS ok');
  }

  async checkSpace(): Promise<void> {
    this.#disk?.check(0);
  }

  /** Refused like a message while the disk is under its floor, so readiness waits for the space. */
  async probeWrite(): Promise<void> {
    this.#disk?.check(0);
    await this.#db.write(PROBE_WRITE, { value: probeValue() });
  }
}
