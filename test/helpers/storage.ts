import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { createTestDatabase } from './pg-database.ts';

/**
 * Which store the integration tests run on: the embedded SQLite store, or PostgreSQL with
 * `TEST_STORE=postgres` (`npm run test:pg`; CI runs both).
 */
export const TEST_STORE: 'sqlite' | 'postgres' =
  process.env.TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/**
 * Where a test server keeps its data: a data directory and, on PostgreSQL, a fresh database of
 * its own. Servers started on the same storage (a restart, a second instance) see the same data.
 */
export interface TestStorage {
  readonly kind: 'sqlite' | 'postgres';
  readonly dataDir: string;
  readonly databaseUrl?: string;
  /** Rows read straight from the store's tables, outside any server: a check of what was stored. */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** The names of the store's tables. */
  tables(): Promise<string[]>;
  /** Removes the directory and the database. */
  remove(): Promise<void>;
}

export async function createStorage(prefix = 'test', kind = TEST_STORE): Promise<TestStorage> {
  const dataDir = mkdtempSync(join(tmpdir(), `switchboard-${prefix}-`));
  if (kind === 'sqlite') {
    const rows = async <T>(sql: string): Promise<T[]> => {
      const db = new DatabaseSync(join(dataDir, 'switchboard.db'), { readOnly: true });
      try {
        return db.prepare(sql).all() as T[];
      } finally {
        db.close();
      }
    };
    return {
      kind,
      dataDir,
      rows,
      async tables() {
        return (await rows<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")).map(
          (r) => r.name,
        );
      },
      async remove() {
        rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      },
    };
  }
  const database = await createTestDatabase(prefix.replace(/\W/g, '_'));
  const rows = async <T>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  };
  return {
    kind,
    dataDir,
    databaseUrl: database.url,
    rows,
    async tables() {
      const names = await rows<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'",
      );
      return names.map((r) => r.name);
    },
    async remove() {
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
}
