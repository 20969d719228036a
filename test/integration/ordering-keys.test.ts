import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Ordering keys (SPEC 5.2), configuration and header: a destination's `orderingKey` and
 * `maxInFlight` are configuration (file and API), each log's key is read once at accept time and
 * travels with it as `x-switchboard-ordering-key`. Per-key delivery: ordering-key-delivery.test.ts.
 */

let h: Harness;
let keyed: Receiver;
let plain: Receiver;

before(async () => {
  keyed = await Receiver.start();
  plain = await Receiver.start();
  h = await startHarness({
    destinations: [
      { id: 'keyed', url: keyed.url, orderingKey: '$.Patient.Identifiers[0].ID', maxInFlight: 8 },
      { id: 'plain', url: plain.url },
    ],
  });
});

after(async () => {
  await h.close();
  await keyed.close();
  await plain.close();
});

test('each log carries the key read from its payload; a destination without orderingKey gets none', async () => {
  await h.send(patientAdmin(1));
  await h.send({
    Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    Patient: { Identifiers: [{ ID: 'MRN ü/1', IDType: 'MR' }] },
  });
  await waitFor(() => keyed.received.length === 2 && plain.received.length === 2, 5_000, 'deliveries');
  // Two keys, delivered in parallel (maxInFlight 8): no order between them is promised.
  assert.deepEqual(
    keyed.received.map((r) => decodeURIComponent(String(r.headers['x-switchboard-ordering-key']))).sort(),
    ['MRN ü/1', 'MRN-1'].sort(),
  );
  assert.equal(plain.received[0]!.headers['x-switchboard-ordering-key'], undefined);
  // The receiver sees a request before its attempt is recorded.
  await h.settled();
  const stored = await h.storage.rows<{ ordering_key: string | null; destination_id: string }>(
    "SELECT ordering_key, destination_id FROM logs WHERE status = 'succeeded' ORDER BY pk",
  );
  assert.deepEqual(
    stored.filter((r) => r.destination_id === 'keyed').map((r) => r.ordering_key),
    ['MRN-1', 'MRN ü/1'],
  );
  assert.ok(stored.filter((r) => r.destination_id === 'plain').every((r) => r.ordering_key === null));
});

test('orderingKey and maxInFlight through the Platform API; a bad JSONPath is a 400 naming the field', async () => {
  const read = await h.platform('GET', '/platform/v1/destinations/keyed');
  assert.equal(read.body.orderingKey, '$.Patient.Identifiers[0].ID');
  assert.equal(read.body.maxInFlight, 8);
  const bad = await h.platform('POST', '/platform/v1/destinations', {
    id: 'bad',
    name: 'Bad',
    environment: 'production',
    url: plain.url,
    orderingKey: 'Patient.ID',
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /orderingKey/);
  const made = await h.platform('POST', '/platform/v1/destinations', {
    id: 'visits',
    name: 'Visits',
    environment: 'production',
    url: plain.url,
    orderingKey: '$.Visit.VisitNumber',
    maxInFlight: 4,
  });
  assert.equal(made.status, 201);
  assert.equal(
    (await h.platform('PATCH', '/platform/v1/destinations/visits', { maxInFlight: 0 })).status,
    400,
  );
  assert.equal(
    (await h.platform('PATCH', '/platform/v1/destinations/visits', { orderingKey: null })).body.orderingKey,
    undefined,
  );
});
