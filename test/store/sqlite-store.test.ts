import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { openWorkerStore } from '../../src/store/sqlite/worker-store.ts';
import { test } from 'node:test';
import { seedSqliteHistory } from '../helpers/history.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  assertV1Heads,
  catalog,
  message,
  storeContract,
  V1_LOGS,
  V1_PENDING_FROM,
  V1_QUEUES,
} from './contract.ts';
import { orderingKeysContract } from './ordering-keys-contract.ts';

/** The embedded store, both as the class itself and as the server runs it (in a worker thread). */
function tempFile(): { path: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-store-'));
  return {
    path: join(dir, 'switchboard.db'),
    cleanup: async () => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }),
  };
}

storeContract('SQLite', async () => {
  const { path, cleanup } = tempFile();
  return {
    store: new SqliteStore(path),
    cleanup,
    seedHistory: async (spec) => seedSqliteHistory(path, spec),
  };
});

orderingKeysContract('SQLite', async () => {
  const { path, cleanup } = tempFile();
  return {
    store: new SqliteStore(path),
    cleanup,
    seedHistory: async (spec) => seedSqliteHistory(path, spec),
  };
});

storeContract('SQLite in its worker thread', async () => {
  const { path, cleanup } = tempFile();
  return {
    store: openWorkerStore(path),
    cleanup,
    seedHistory: async (spec) => seedSqliteHistory(path, spec),
  };
});

test('the worker store checkpoints from its own thread: the WAL reaches the database file and stays bounded', async () => {
  const { path, cleanup } = tempFile();
  const store = openWorkerStore(path);
  try {
    await store.migrate();
    await store.catalog.syncCatalog(catalog());
    const payload = JSON.stringify({ pad: 'x'.repeat(10_000) });
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 250 }, () =>
          store.intake.acceptMessage(message(['app'], { payload, receivedAt: 1 })),
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

test('migration 2 starts each queue at its first pending log, so a database from before it delivers the same heads', async () => {
  const { path, cleanup } = tempFile();
  try {
    const { DatabaseSync } = await import('node:sqlite');
    const { loadMigrations } = await import('../../src/store/sql/migrations.ts');
    const [core] = loadMigrations(new URL('../../src/store/sqlite/migrations/', import.meta.url));
    const old = new DatabaseSync(path);
    old.exec('CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    old.exec(core!.statements[0]!);
    old.exec(`INSERT INTO schema_migrations VALUES (1, 'core');
      INSERT INTO queues (org_id, destination_id, next_seq) VALUES ${V1_QUEUES.map((q) => `('org', '${q.destination}', ${q.nextSeq})`).join(', ')};
      INSERT INTO messages (id, org_id, source_id, payload, received_at) VALUES (1, 'org', 'src', '{}', 0);`);
    const log =
      old.prepare(`INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model,
      event_type, test, seq, status, next_attempt_id, next_attempt_at, created_at, updated_at)
      VALUES (?, 1, 'org', 'send', 'src', ?, 'PatientAdmin', 'NewPatient', 0, ?, ?, ?, 0, 0, 0)`);
    for (const [destination, seq, status] of V1_LOGS)
      log.run(randomUUID(), destination, seq, status, randomUUID());
    old.close();

    const store = new SqliteStore(path);
    await store.migrate();
    await assertV1Heads(store);
    await store.close();
    const after = new DatabaseSync(path);
    assert.deepEqual(
      after
        .prepare('SELECT destination_id, pending_from FROM queues ORDER BY destination_id')
        .all()
        .map((r) => ({ ...r })),
      [
        { destination_id: 'busy', pending_from: V1_PENDING_FROM.busy },
        { destination_id: 'idle', pending_from: V1_PENDING_FROM.idle },
      ],
    );
    after.close();
  } finally {
    await cleanup();
  }
});
