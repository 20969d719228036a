import type { ServerSettings } from '../config.ts';
import { join } from 'node:path';
import { PostgresStore } from './postgres/postgres-store.ts';
import { openWorkerStore } from './sqlite/worker-store.ts';
import type { Store } from './store.ts';

/** Picks the store implementation from the settings: PostgreSQL with DATABASE_URL, else SQLite. */
export async function openStore(settings: ServerSettings): Promise<Store> {
  if (settings.databaseUrl)
    return new PostgresStore({ url: settings.databaseUrl, poolSize: settings.databasePoolSize });
  // The embedded store runs in its own thread; see sqlite/worker-store.ts.
  return openWorkerStore(join(settings.dataDir, 'switchboard.db'));
}
