import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { openWorkerStore } from '../../src/store/sqlite/worker-store.ts';
import { storeContract } from './contract.ts';

/** The embedded store, both as the class itself and as the server runs it (in a worker thread). */
function tempFile(): { path: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-store-'));
  return {
    path: join(dir, 'switchboard.db'),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

storeContract('SQLite', async () => {
  const { path, cleanup } = tempFile();
  return { store: new SqliteStore(path), cleanup };
});

storeContract('SQLite in its worker thread', async () => {
  const { path, cleanup } = tempFile();
  return { store: openWorkerStore(path), cleanup };
});
