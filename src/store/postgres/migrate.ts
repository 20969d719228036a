import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { PG_LOCKS } from '../sql/dialect.ts';
import { loadMigrations, pendingMigrations } from '../sql/migrations.ts';
import { mapError, withConnection } from './pg-pool.ts';

const MIGRATIONS = new URL('./migrations/', import.meta.url);

/**
 * Applies the migrations the database lacks, one instance at a time: the others wait for the
 * advisory lock and then find nothing left to do. The lock is a session lock, held across each
 * migration's own transaction, and it is waited for by trying again rather than by a blocking
 * call: `CREATE INDEX CONCURRENTLY` waits for every open transaction, a blocked lock request
 * among them, and the two would wait for each other.
 */
export async function migratePostgres(pool: pg.Pool, where: string): Promise<void> {
  const [lockClass, lockObject] = PG_LOCKS.migrate;
  await withConnection(pool, async (client) => {
    try {
      for (;;) {
        const { rows } = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, $2) AS locked',
          [lockClass, lockObject],
        );
        if (rows[0]!.locked) break;
        await sleep(100);
      }
      try {
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)',
        );
        const applied = (await client.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map(
          (r) => r.id,
        );
        for (const migration of pendingMigrations(loadMigrations(MIGRATIONS), applied, where)) {
          const record = (): Promise<unknown> =>
            client.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [
              migration.id,
              migration.name,
            ]);
          if (migration.transactional) {
            await client.query('BEGIN');
            try {
              for (const statement of migration.statements) await client.query(statement);
              await record();
              await client.query('COMMIT');
            } catch (error) {
              await client.query('ROLLBACK');
              throw error;
            }
          } else {
            await dropInvalidIndexes(client);
            for (const statement of migration.statements) await client.query(statement);
            await record();
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [lockClass, lockObject]);
      }
    } catch (error) {
      throw mapError(error);
    }
  });
}

/**
 * An interrupted `CREATE INDEX CONCURRENTLY` leaves an invalid index behind, which `IF NOT
 * EXISTS` would then take for done: such leftovers are dropped before a migration runs again.
 */
async function dropInvalidIndexes(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i
     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT i.indisvalid AND n.nspname = current_schema()`,
  );
  for (const { name } of rows)
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS "${name.replaceAll('"', '""')}"`);
}
