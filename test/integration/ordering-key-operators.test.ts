import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attemptsRecorded, patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver, type Received } from '../helpers/receiver.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Ordering keys where they meet strict FIFO and operators, on the real server and store: the
 * default `maxInFlight` 1 is strict per-destination FIFO; a pause stops new keys at once; a
 * blocked unkeyed head (queued before the key was set) holds the keyed logs behind it; an alert
 * whose key was skipped is recovered by another key's delivery.
 */

const KEY = '$.Patient.Identifiers[0].ID';
const seqOf = (r: Received): number => Number(r.headers['x-switchboard-sequence']);
const keyOf = (r: Received): string => decodeURIComponent(String(r.headers['x-switchboard-ordering-key']));

async function serve(
  t: { after: (fn: () => Promise<void>) => void },
  destination: Record<string, unknown>,
): Promise<Harness> {
  const h = await startHarness({ destinations: [{ id: 'd', url: '', ...destination } as never] });
  t.after(() => h.close());
  return h;
}

test('maxInFlight 1 (the default) with a key: strict FIFO per destination, one at a time', async (t) => {
  const slow = await SlowReceiver.start(() => 2);
  t.after(() => slow.close());
  const h = await serve(t, { url: slow.url, orderingKey: KEY });
  await Promise.all(Array.from({ length: 30 }, (_, i) => h.send(patientAdmin(i % 3))));
  await waitFor(() => slow.logIds().length === 30, 10_000, '30 deliveries');
  const seqs = slow.received.map(seqOf);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'sequence order across keys',
  );
  assert.equal(slow.maxInFlight, 1);
});

test('a pause stops new keys at once: nothing but the attempt in flight reaches the receiver', async (t) => {
  const slow = await SlowReceiver.start(() => 600);
  t.after(() => slow.close());
  const h = await serve(t, { url: slow.url, orderingKey: KEY, maxInFlight: 4 });
  await h.send(patientAdmin(1));
  await waitFor(() => slow.inFlight === 1, 5_000, 'one in flight');
  assert.equal((await h.platform('POST', '/platform/v1/destinations/d/queue/pause')).status, 200);
  for (let i = 2; i <= 4; i++) await h.send(patientAdmin(i));
  await h.settled();
  assert.deepEqual(slow.received.map(keyOf), ['MRN-1']);
  assert.equal((await h.platform('POST', '/platform/v1/destinations/d/queue/resume')).status, 200);
  await waitFor(() => slow.received.length === 4, 5_000, 'the rest after resume');
});

test('an unkeyed head blocked before the key was set holds the keyed logs behind it', async (t) => {
  const receiver = await Receiver.start();
  t.after(() => receiver.close());
  receiver.respond = (r) => (r.body.includes('"MRN-1"') ? 503 : 200);
  const h = await startHarness({ destinations: [], extraSubscriptions: [] });
  t.after(() => h.close());
  const made = await h.platform('POST', '/platform/v1/destinations', {
    id: 'late',
    name: 'Late',
    environment: 'production',
    url: receiver.url,
  });
  assert.equal(made.status, 201);
  const sub = await h.platform('POST', '/platform/v1/subscriptions', {
    source: 'ehr',
    dataModel: 'PatientAdmin',
    destination: 'late',
  });
  assert.equal(sub.status, 201);
  await h.send(patientAdmin(1));
  await waitFor(() => receiver.received.length >= 2, 5_000, 'tried and retried at once');
  await h.settled();
  const keyed = await h.platform('PATCH', '/platform/v1/destinations/late', {
    orderingKey: KEY,
    maxInFlight: 4,
  });
  assert.equal(keyed.status, 200);
  await h.send(patientAdmin(2));
  await h.send(patientAdmin(3));
  await h.settled();
  assert.ok(
    receiver.received.every((r) => r.body.includes('"MRN-1"')),
    'nothing passes the blocked unkeyed head (strict FIFO)',
  );
  const queue = (await h.platform('GET', '/platform/v1/destinations/late/queue')).body;
  assert.equal(queue.depth, 3);
  assert.equal(queue.state, 'blocked');
  receiver.respond = () => 200;
  h.clock.advance(10_000);
  await waitFor(() => receiver.logIds().length === 3, 5_000, 'all three once the head goes through');
});

test("an alert opened by a key that is then skipped is recovered by another key's delivery", async (t) => {
  const receiver = await Receiver.start();
  t.after(() => receiver.close());
  receiver.respond = (r) => (r.body.includes('"MRN-1"') ? 503 : 200);
  const h = await serve(t, { url: receiver.url, orderingKey: KEY, maxInFlight: 4 });
  await h.send(patientAdmin(1));
  await attemptsRecorded(h, 2, 'd');
  h.clock.advance(10_000);
  await attemptsRecorded(h, 3, 'd');
  await h.settled();
  const kinds = async (): Promise<string[]> =>
    (await h.platform('GET', '/platform/v1/alerts')).body.alerts.map((a: { kind: string }) => a.kind);
  assert.deepEqual(await kinds(), ['failing']);
  const skipped = await h.platform('POST', '/platform/v1/destinations/d/queue/skip', { key: 'MRN-1' });
  assert.equal(skipped.status, 200);
  await h.send(patientAdmin(2));
  await waitFor(async () => (await kinds()).includes('recovered'), 5_000, 'the recovery');
});
