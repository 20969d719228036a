import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let receivers: Receiver[];
let h: Harness;
const SIGNING_SECRET = 'whsec_' + Buffer.from('a-signing-secret-for-tests').toString('base64');

before(async () => {
  receivers = await Promise.all([Receiver.start(), Receiver.start(), Receiver.start()]);
  h = await startHarness({
    destinations: receivers.map((r, i) => ({
      id: `dest${i}`,
      url: r.url,
      ...(i === 0 ? { signingSecret: SIGNING_SECRET } : {}),
    })),
  });
});

after(async () => {
  await h.close();
  await Promise.all(receivers.map((r) => r.close()));
});

test('one message to three destinations: one answer with three logs, each destination gets it once', async () => {
  const payload = patientAdmin(1);
  const res = await h.send(payload);
  assert.equal(res.status, 200);
  const meta = res.body.Meta;
  assert.deepEqual(meta.Errors, []);
  assert.equal(meta.DataModel, 'PatientAdmin');
  assert.equal(meta.EventType, 'NewPatient');
  assert.deepEqual(meta.Source, { ID: 'ehr', Name: 'Acme EHR' });
  assert.deepEqual(
    meta.Destinations.map((d: { ID: string }) => d.ID),
    ['dest0', 'dest1', 'dest2'],
  );
  assert.equal(typeof meta.Message.ID, 'number');
  assert.equal(typeof meta.Transmission.ID, 'number');
  assert.equal(meta.Logs.length, 3);
  assert.equal(new Set(meta.Logs.map((l: { ID: string }) => l.ID)).size, 3);

  await waitFor(() => receivers.every((r) => r.received.length >= 1), 5_000, 'three deliveries');
  // A moment more: nothing may arrive twice.
  await new Promise((resolve) => setTimeout(resolve, 200));
  receivers.forEach((receiver, i) => {
    assert.equal(receiver.received.length, 1, `destination ${i} received exactly once`);
    const got = receiver.received[0]!;
    const log = meta.Logs[i];
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers['verification-token'], `token-dest${i}`);
    assert.equal(got.headers.authorization, `Bearer token-dest${i}`);
    assert.equal(got.headers['x-switchboard-log-id'], log.ID);
    assert.equal(got.headers['x-switchboard-attempt-id'], log.AttemptID);
    assert.equal(got.headers['x-switchboard-message-id'], String(meta.Message.ID));
    assert.equal(got.headers['x-switchboard-sequence'], '1');
    assert.ok(!Number.isNaN(Date.parse(String(got.headers['x-switchboard-received-at']))));
    assert.deepEqual(JSON.parse(got.body), payload, 'payload as sent');
  });

  // Standard Webhooks signature on the destination that has a signing secret, none elsewhere.
  const signed = receivers[0]!.received[0]!;
  const id = String(signed.headers['webhook-id']);
  const timestamp = String(signed.headers['webhook-timestamp']);
  const key = Buffer.from(SIGNING_SECRET.slice(6), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${signed.body}`).digest('base64');
  assert.equal(signed.headers['webhook-signature'], `v1,${expected}`);
  assert.equal(receivers[1]!.received[0]!.headers['webhook-signature'], undefined);

  const logs = await h.platform('GET', `/platform/v1/logs?messageId=${meta.Message.ID}`);
  assert.equal(logs.status, 200);
  assert.equal(logs.body.logs.length, 3);
  await waitFor(async () => {
    const r = await h.platform('GET', `/platform/v1/logs?messageId=${meta.Message.ID}&status=succeeded`);
    return r.body.logs.length === 3;
  });
});

test('sequence numbers increase per destination', async () => {
  await h.send(patientAdmin(2));
  await h.send(patientAdmin(3));
  await waitFor(() => receivers.every((r) => r.received.length >= 3), 5_000, 'deliveries');
  for (const receiver of receivers)
    assert.deepEqual(
      receiver.received.map((r) => Number(r.headers['x-switchboard-sequence'])),
      [1, 2, 3],
    );
});

test('explicit Meta.Destinations overrides subscriptions', async () => {
  const before = receivers.map((r) => r.received.length);
  const res = await h.send(patientAdmin(4, { Destinations: [{ ID: 'dest1' }] }));
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.Meta.Destinations, [{ ID: 'dest1', Name: 'Destination dest1' }]);
  await waitFor(() => receivers[1]!.received.length === before[1]! + 1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(receivers[0]!.received.length, before[0]);
  assert.equal(receivers[2]!.received.length, before[2]);
});

test('no subscription matches: one filtered log, still 200', async () => {
  const res = await h.send({
    Meta: { DataModel: 'Scheduling', EventType: 'New' },
    Visit: {
      VisitNumber: 'V1',
      VisitDateTime: '2026-12-01T10:00:00Z',
      Duration: 30,
      Location: { Department: 'Cardiology' },
    },
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.Meta.Logs.length, 1);
  assert.deepEqual(res.body.Meta.Destinations, []);
  const detail = await h.platform('GET', `/platform/v1/logs/${res.body.Meta.Logs[0].ID}`);
  assert.equal(detail.body.status, 'filtered');
  assert.equal(detail.body.destination, null);
});

test('spelled-out data model names are the same model', async () => {
  const res = await h.send({
    Meta: { DataModel: 'Patient Admin', EventType: 'Arrival' },
    Patient: { Identifiers: [{ ID: 'MRN-1', IDType: 'MR' }] },
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.Meta.Logs.length, 3);
});
