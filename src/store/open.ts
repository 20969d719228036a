import type { ServerSettings } from '../config.ts';
import { join } from 'node:path';
import type { Store } from './store.ts';

/** Picks the store implementation from the settings: PostgreSQL with DATABASE_URL, else SQLite. */
export async function openStore(settings: ServerSettings): Promise<Store> {
  // Each implementation is loaded only when chosen: pg is not needed on the embedded store, and
  // start-up time is how long a restarted instance keeps every queue waiting.
  if (settings.databaseUrl) {
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    return new PostgresStore({ url: settings.databaseUrl, poolSize: settings.databasePoolSize });
  }
  // One process per data directory (sqlite/data-dir-lock.ts); the embedded store runs in its own
  // thread (sqlite/worker-store.ts).
  const [{ lockDataDir }, { openWorkerStore }, { keepDiskReserve, releaseDiskReserve }] = await Promise.all([
    import('./sqlite/data-dir-lock.ts'),
    import('./sqlite/worker-store.ts'),
    import('./sqlite/disk-reserve.ts'),
  ]);
  const unlock = lockDataDir(settings.dataDir);
  releaseDiskReserve(settings.dataDir);
  return openWorkerStore(join(settings.dataDir, 'switchboard.db'), {
    onClose: () => {
      keepDiskReserve(settings.dataDir);
      unlock();
    },
    diskFreeLimitBytes: settings.diskFreeLimitBytes,
  });
}
