import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { loadMigrations } from '../../src/store/sql/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { QueueRef } from '../../src/store/roles/queue-store.ts';

const PG_MIGRATIONS = loadMigrations(new URL('../../src/store/postgres/migrations/', import.meta.url));
import { seedPostgresHistory } from '../helpers/history.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-database.ts';
import { assertV1Heads, catalog, message, NOW, V1_LOGS, V1_PENDING_FROM, V1_QUEUES } from './contract.ts';

/**
 * What the PostgreSQL store promises beyond the contract, for many instances on one database
 * (design.md "Scale-out on PostgreSQL"): migrations safe when instances start together, commits
 * durable whatever the database's default, claims that skip a locked queue instead of waiting.
 */

/** A plain connection to `url`, outside any store; closed after `work`. */
async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const refs = (queues: QueueRef[]): string[] => queues.map((q) => `${q.orgId}/${q.destinationId}`).sort();

test('instances starting at once: every migrate() succeeds and each migration is recorded once', async () => {
  const database = await createTestDatabase('migrate');
  const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: database.url, poolSize: 2 }));
  try {
    const results = await Promise.allSettled(stores.map((store) => store.migrate()));
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected').map((r) => String(r.reason)),
      [],
      'every concurrent migrate() succeeds',
    );
    const recorded = await withClient(
      database.url,
      async (client) =>
        (
          await client.query<{ id: number; n: number }>(
            'SELECT id, count(*)::int AS n FROM schema_migrations GROUP BY id ORDER BY id',
          )
        ).rows,
    );
    assert.deepEqual(
      recorded,
      PG_MIGRATIONS.map((m) => ({ id: m.id, n: 1 })),
    );
    // And the schema they made works.
    await stores[0]!.catalog.syncCatalog(catalog());
    await stores[1]!.intake.acceptMessage(message(['app']));
  } finally {
    await Promise.all(stores.map((store) => store.close()));
    await database.drop();
  }
});

test('commits are durable even when the database defaults to synchronous_commit = off', async () => {
  const database = await createTestDatabase('synccommit');
  const name = new URL(database.url).pathname.slice(1);
  const store = new PostgresStore({ url: database.url, poolSize: 4 });
  try {
    await withClient(database.url, (client) =>
      client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`),
    );
    // The database default took: a plain new session has it off.
    const plain = await withClient(
      database.url,
      async (client) =>
        (
          await client.query<{ setting: string }>(
            `SELECT setting FROM pg_settings WHERE name = 'synchronous_commit'`,
          )
        ).rows[0]!.setting,
    );
    assert.equal(plain, 'off');

    await store.migrate();
    // The store's pool is private: a trigger writes down the setting of the session that runs
    // each insert, so the store's own connections report it through its ordinary writes.
    await withClient(database.url, async (client) => {
      await client.query('CREATE TABLE probe (tbl TEXT NOT NULL, setting TEXT NOT NULL)');
      await client.query(`CREATE FUNCTION probe() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO probe VALUES (TG_TABLE_NAME, (SELECT setting FROM pg_settings WHERE name = 'synchronous_commit'));
          RETURN NEW;
        END $$`);
      for (const table of ['settings', 'organizations', 'messages'])
        await client.query(
          `CREATE TRIGGER probe BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION probe()`,
        );
    });
    // A single statement, a transaction, and the group-committed accept path; several at once so
    // that more than one pool connection is used.
    await Promise.all([
      store.catalog
        .syncCatalog(catalog())
        .then(() =>
          Promise.all(Array.from({ length: 8 }, () => store.intake.acceptMessage(message(['app'])))),
        ),
      ...Array.from({ length: 8 }, (_, i) => store.catalog.getOrCreateSetting(`key${i}`, 'value')),
    ]);
    const seen = await withClient(
      database.url,
      async (client) =>
        (
          await client.query<{ tbl: string; setting: string; n: number }>(
            'SELECT tbl, setting, count(*)::int AS n FROM probe GROUP BY tbl, setting ORDER BY tbl, setting',
          )
        ).rows,
    );
    assert.deepEqual(
      seen.map((r) => `${r.tbl}:${r.setting}`),
      ['messages:on', 'organizations:on', 'settings:on'],
    );
  } finally {
    await store.close();
    await database.drop();
  }
});

describe('claims skip a queue another connection has locked (FOR UPDATE SKIP LOCKED)', () => {
  let database: TestDatabase;
  let store: PostgresStore;

  before(async () => {
    database = await createTestDatabase('skiplocked');
    store = new PostgresStore({ url: database.url, poolSize: 4 });
    await store.migrate();
    await store.catalog.syncCatalog(catalog());
  });

  after(async () => {
    await store?.close();
    await database?.drop();
  });

  test('claimQueues returns at once with the other due queues, then the locked one once freed', async () => {
    for (const [orgId, destinationId] of [
      ['acme', 'app'],
      ['acme', 'lab'],
      ['other', 'app'],
    ] as const)
      await store.intake.acceptMessage(message([destinationId], {}, orgId));

    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    let claim: Promise<QueueRef[]> | undefined;
    try {
      await locker.query('BEGIN');
      const locked = await locker.query(
        `SELECT org_id, destination_id FROM queues WHERE org_id = 'acme' AND destination_id = 'app' FOR UPDATE`,
      );
      assert.equal(locked.rowCount, 1);

      const started = Date.now();
      claim = store.queues.claimQueues({
        owner: 'one',
        now: NOW,
        leaseUntil: NOW + 30_000,
        limit: 10,
        exclude: [],
      });
      let timer: NodeJS.Timeout | undefined;
      const claimed = await Promise.race([
        claim,
        new Promise<'waiting'>((resolve) => {
          timer = setTimeout(() => resolve('waiting'), 1_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.notEqual(claimed, 'waiting', 'the claim waited on the locked queue row instead of skipping it');
      assert.ok(Date.now() - started < 1_000);
      assert.deepEqual(refs(claimed as QueueRef[]), ['acme/lab', 'other/app']);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
      // A claim that did wait finishes now that the lock is gone, before the store closes.
      await claim?.catch(() => undefined);
    }

    // Freed, the skipped queue is claimed like any other.
    const later = await store.queues.claimQueues({
      owner: 'two',
      now: NOW,
      leaseUntil: NOW + 30_000,
      limit: 10,
      exclude: [],
    });
    assert.deepEqual(refs(later), ['acme/app']);
  });
});

test('the delivery lease lasts 30 s by default', () => {
  assert.equal(loadConfig({}).delivery.leaseMs, 30_000);
});

test('migration 2 starts each queue at its first pending log, so a database from before it delivers the same heads', async () => {
  const database = await createTestDatabase('migrate2');
  try {
    await withClient(database.url, async (client) => {
      await client.query('CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
      await client.query(PG_MIGRATIONS[0]!.statements[0]!);
      await client.query(`INSERT INTO schema_migrations VALUES (1, 'core');
        INSERT INTO queues (org_id, destination_id, next_seq) VALUES ${V1_QUEUES.map((q) => `('org', '${q.destination}', ${q.nextSeq})`).join(', ')};
        INSERT INTO messages (org_id, source_id, payload, received_at) VALUES ('org', 'src', '{}', 0);`);
      for (const [destination, seq, status] of V1_LOGS)
        await client.query(
          `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type,
             test, seq, status, next_attempt_id, next_attempt_at, created_at, updated_at)
           VALUES ($1, 1, 'org', 'send', 'src', $2, 'PatientAdmin', 'NewPatient', false, $3, $4, $5, 0, 0, 0)`,
          [randomUUID(), destination, seq, status, randomUUID()],
        );
    });
    const store = new PostgresStore({ url: database.url, poolSize: 2 });
    try {
      await store.migrate();
      await assertV1Heads(store);
    } finally {
      await store.close();
    }
    const marks = await withClient(
      database.url,
      async (client) =>
        (await client.query('SELECT destination_id, pending_from FROM queues ORDER BY destination_id')).rows,
    );
    assert.deepEqual(
      marks.map((r: { destination_id: string; pending_from: string | number }) => [
        r.destination_id,
        Number(r.pending_from),
      ]),
      [
        ['busy', V1_PENDING_FROM.busy],
        ['idle', V1_PENDING_FROM.idle],
      ],
    );
  } finally {
    await database.drop();
  }
});

test('a database migrated by a newer release: migrate() refuses, naming the versions', async () => {
  const database = await createTestDatabase('newer');
  const store = new PostgresStore({ url: database.url, poolSize: 2 });
  try {
    await store.migrate();
    await withClient(database.url, (client) =>
      client.query(`INSERT INTO schema_migrations (id, name) VALUES (9999, 'from the future')`),
    );
    await assert.rejects(store.migrate(), {
      name: 'SchemaTooNewError',
      message: new RegExp(
        `database .*${new URL(database.url).pathname} has schema version 9999, newer than this Switchboard knows \\(${PG_MIGRATIONS.at(-1)!.id}\\)`,
      ),
    });
  } finally {
    await store.close();
    await database.drop();
  }
});

test('an upgrade builds its index on a big logs table without blocking writes (CREATE INDEX CONCURRENTLY)', async () => {
  const database = await createTestDatabase('concurrently');
  const store = new PostgresStore({ url: database.url, poolSize: 2 });
  const writer = new pg.Client({ connectionString: database.url });
  try {
    // The schema as the release before migration 4 left it, with 200,000 logs.
    await withClient(database.url, async (client) => {
      await client.query('CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
      for (const migration of PG_MIGRATIONS.filter((m) => m.id <= 3)) {
        for (const statement of migration.statements) await client.query(statement);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2)', [migration.id, migration.name]);
      }
      await client.query(`INSERT INTO organizations (id, name) VALUES ('acme', 'Acme')`);
      await client.query(`INSERT INTO queues (org_id, destination_id) VALUES ('acme', 'app')`);
    });
    await seedPostgresHistory(database.url, { orgId: 'acme', destinationId: 'app', count: 200_000, from: 1 });
    await writer.connect();
    let writing = true;
    const latencies: number[] = [];
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        const started = performance.now();
        await writer.query(
          `INSERT INTO logs (id, message_id, org_id, type, source_id, destination_id, data_model, event_type, test,
             status, created_at, updated_at)
           VALUES ($1, 1, 'acme', 'send', 'ehr', 'app', 'PatientAdmin', 'NewPatient', false, 'succeeded', 0, 0)`,
          [`during-${i}`],
        );
        latencies.push(performance.now() - started);
      }
    })();
    const started = performance.now();
    await store.migrate();
    const migrating = performance.now() - started;
    writing = false;
    await writes;
    const worst = Math.max(...latencies);
    assert.ok(latencies.length > 10, `writes went on during the migration (${latencies.length})`);
    // A plain CREATE INDEX would hold every insert for the whole build.
    assert.ok(
      worst < migrating / 3,
      `the longest insert took ${worst.toFixed(0)} ms of a ${migrating.toFixed(0)} ms migration`,
    );
    const indexes = await withClient(database.url, async (client) =>
      (
        await client.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'logs'`)
      ).rows.map((r) => r.indexname),
    );
    assert.ok(indexes.includes('logs_org_time') && !indexes.includes('logs_org'), indexes.join(', '));
  } finally {
    await writer.end().catch(() => undefined);
    await store.close();
    await database.drop();
  }
});
