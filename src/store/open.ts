import type { ServerSettings } from '../config.ts';
import { ConfigError } from '../config.ts';
import { join } from 'node:path';
import { openWorkerStore } from './sqlite/worker-store.ts';
import type { Store } from './store.ts';

/** Picks the store implementation from the settings. */
export async function openStore(settings: ServerSettings): Promise<Store> {
  if (settings.databaseUrl)
    throw new ConfigError(
      'DATABASE_URL (PostgreSQL) is not supported yet; unset it to use the embedded store',
    );
  // The embedded store runs in its own thread; see sqlite/worker-store.ts.
  return openWorkerStore(join(settings.dataDir, 'switchboard.db'));
}
