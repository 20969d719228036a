import assert from 'node:assert/strict';
import pg from 'pg';
import { after, before, test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-database.ts';
import { scrape, value } from '../helpers/prometheus.ts';
import { Receiver } from '../helpers/receiver.ts';
import { settle, waitFor } from '../helpers/wait.ts';

/**
 * Two instances on one PostgreSQL database: `api` serves the APIs only, `worker` delivers. The
 * worker's clock is manual and never advanced, so its poll never fires: it can only learn of
 * new work through LISTEN/NOTIFY. Operators' actions taken on one instance act on the other.
 */

let database: TestDatabase;
let receiver: Receiver;
let api: Harness;
let worker: Harness;

const logIdsReceived = (): string[] =>
  receiver.received.map((r) => String(r.headers['x-switchboard-log-id']));

before(async () => {
  database = await createTestDatabase('instances');
  receiver = await Receiver.start();
  const common = {
    destinations: [{ id: 'app', url: receiver.url }],
    server: { databaseUrl: database.url },
  };
  worker = await startHarness({ ...common, delivery: { pollIntervalMs: 600_000 } });
  api = await startHarness({ ...common, delivery: { enabled: false } });
  // Each harness froze its own clock at its start; the worker's must not lag the api's, or what
  // the api accepts would look not yet due to the worker.
  worker.clock.advance(60_000);
});

after(async () => {
  await api?.close();
  await worker?.close();
  await receiver?.close();
  await database?.drop();
});

test('a token issued by one instance is accepted by the other', async () => {
  const token = await worker.token();
  const answer = await api.send(patientAdmin(0), { token });
  assert.equal(answer.status, 200);
  await waitFor(() => logIdsReceived().includes(answer.body.Meta.Logs[0].ID), 5_000, 'delivery');
});

test('a message accepted by one instance wakes the other at once (LISTEN/NOTIFY, not polling)', async () => {
  const started = Date.now();
  const answer = await api.send(patientAdmin(1));
  assert.equal(answer.status, 200);
  const logId = answer.body.Meta.Logs[0].ID as string;
  await waitFor(() => logIdsReceived().includes(logId), 2_000, 'delivery by the other instance');
  assert.ok(Date.now() - started < 2_000);
  await waitFor(
    async () => (await api.platform('GET', `/platform/v1/logs/${logId}`)).body.status === 'succeeded',
    2_000,
    'the delivery recorded, seen from the other instance',
  );
});

test('pause, skip and resume through one instance hold and release the other instance’s delivery', async () => {
  const paused = await api.platform('POST', '/platform/v1/destinations/app/queue/pause', { by: 'ops' });
  assert.equal(paused.status, 200);
  const first = (await api.send(patientAdmin(2))).body.Meta.Logs[0].ID as string;
  const second = (await api.send(patientAdmin(3))).body.Meta.Logs[0].ID as string;
  await worker.settled();
  assert.ok(!logIdsReceived().includes(first), 'nothing delivered while paused');
  const queue = await worker.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(queue.body.state, 'paused');
  assert.equal(queue.body.depth, 2);
  // The queue figures of /metrics come from the store: every instance reports the same.
  for (const instance of [api, worker]) {
    const m = await scrape(instance);
    const labels = { organization: 'acme', destination: 'app' };
    assert.equal(value(m, 'switchboard_queue_depth', labels), 2);
    assert.equal(value(m, 'switchboard_queue_state', { ...labels, state: 'paused' }), 1);
  }

  const skipped = await worker.platform('POST', '/platform/v1/destinations/app/queue/skip', { by: 'ops' });
  assert.equal(skipped.status, 200);
  const resumed = await api.platform('POST', '/platform/v1/destinations/app/queue/resume');
  assert.equal(resumed.status, 200);
  await waitFor(() => logIdsReceived().includes(second), 2_000, 'delivery after resume');
  assert.ok(!logIdsReceived().includes(first), 'the skipped log is never delivered');
  assert.equal((await api.platform('GET', `/platform/v1/logs/${first}`)).body.status, 'failed');
});

test('a manual retry through one instance is delivered by the other', async () => {
  const answer = await api.send(patientAdmin(4));
  const logId = answer.body.Meta.Logs[0].ID as string;
  await waitFor(() => logIdsReceived().includes(logId), 2_000, 'first delivery');
  const retried = await api.platform('POST', `/platform/v1/logs/${logId}/retry`);
  assert.equal(retried.status, 200);
  const copy = (retried.body.log?.id ?? retried.body.id) as string;
  assert.ok(copy && copy !== logId);
  await waitFor(() => logIdsReceived().includes(copy), 2_000, 'retried copy delivered');
});

test('connections cut by the database: requests recover, and LISTEN reconnects so wake-ups still arrive', async () => {
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  try {
    const cut = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    assert.ok(cut.rowCount! >= 2, 'the instances had connections to cut');
  } finally {
    await admin.end();
  }
  // The first request after the cut may find a dead pooled connection: 503, never a hang or 500.
  let answer = await api.send(patientAdmin(5));
  for (let tries = 0; answer.status === 503 && tries < 20; tries++) {
    await settle(100);
    answer = await api.send(patientAdmin(5));
  }
  assert.equal(answer.status, 200);
  const logId = answer.body.Meta.Logs[0].ID as string;
  // The worker's poll never fires: only a re-established LISTEN connection can wake it.
  // A bound well above the reconnect and claim back-offs (a loaded CI machine once took over 5 s).
  await waitFor(() => logIdsReceived().includes(logId), 15_000, 'delivery after the cut');
});

test('a destination and a source made through one instance are used by the other within a second', async () => {
  const created = await api.platform('POST', '/platform/v1/destinations', {
    id: 'live',
    name: 'Live',
    environment: 'production',
    url: receiver.url,
  });
  assert.equal(created.status, 201);
  const subscribed = await api.platform('POST', '/platform/v1/subscriptions', {
    source: 'ehr',
    dataModel: 'PatientAdmin',
    destination: 'live',
  });
  assert.equal(subscribed.status, 201);
  const started = Date.now();
  const answer = await api.send(patientAdmin(40));
  const log = (answer.body.Meta.Logs as { ID: string }[]).at(-1)!.ID;
  // Only the worker delivers: it must know the new destination to send to it.
  await waitFor(() => logIdsReceived().includes(log), 1_500, 'delivery to the new destination');
  assert.ok(Date.now() - started < 1_500);

  const source = await worker.platform('POST', '/platform/v1/sources', {
    id: 'live-src',
    name: 'Live source',
    environment: 'production',
    clientId: 'live-client',
    clientSecret: 'live-secret-0123456789',
  });
  assert.equal(source.status, 201);
  const madeAt = Date.now();
  await waitFor(
    async () =>
      (
        await fetch(`${api.url}/v2/auth/token`, {
          method: 'POST',
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: 'live-client',
            client_secret: 'live-secret-0123456789',
          }),
        })
      ).status === 200,
    1_000,
    'a token from the other instance',
  );
  assert.ok(Date.now() - madeAt < 1_000);
});

test('a catalog change nobody announced (no NOTIFY) is found by the version poll', async () => {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(
      "UPDATE destinations SET name = 'Renamed quietly' WHERE org_id = 'acme' AND id = 'live'",
    );
    await client.query(
      "UPDATE settings SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'catalog_version'",
    );
  } finally {
    await client.end();
  }
  const changedAt = Date.now();
  for (const instance of [api, worker])
    await waitFor(
      async () =>
        (await instance.platform('GET', '/platform/v1/destinations/live')).body.name === 'Renamed quietly',
      1_500,
      'the poll',
    );
  assert.ok(Date.now() - changedAt < 1_500);
});
