import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { openWorkerStore } from '../../src/store/sqlite/worker-store.ts';
import { test } from 'node:test';
import { waitFor } from '../helpers/wait.ts';
import { catalog, storeContract } from './contract.ts';

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

test('the worker store checkpoints from its own thread: the WAL reaches the database file and stays bounded', async () => {
  const { path, cleanup } = tempFile();
  const store = openWorkerStore(path);
  try {
    await store.migrate();
    await store.syncCatalog(catalog());
    const payload = JSON.stringify({ pad: 'x'.repeat(10_000) });
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 250 }, () =>
          store.acceptMessage({
            orgId: 'acme',
            sourceId: 'ehr',
            type: 'send',
            dataModel: 'PatientAdmin',
            eventType: 'NewPatient',
            test: false,
            payload,
            receivedAt: 1,
            logs: [
              { id: randomUUID(), destinationId: 'app', status: 'pending', firstAttemptId: randomUUID() },
            ],
          }),
        ),
      );
    }
    // About 10 MB went through the WAL; the writer itself never checkpoints.
    await waitFor(
      () => statSync(path).size > 8_000_000,
      5_000,
      'the checkpointer to copy the WAL into the file',
    );
    assert.ok(statSync(`${path}-wal`).size < 64 * 1024 * 1024);
  } finally {
    await store.close();
    await cleanup();
  }
});
