import assert from 'node:assert/strict';
import { test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver, type Received } from '../helpers/receiver.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Delivery with ordering keys (SPEC 5.2, 5.3 per key), on the real server with a real store (the
 * one TEST_STORE names) and real receivers: keys in parallel up to `maxInFlight`, FIFO within a
 * key, a failing production key blocking only itself (listed in the queue view and metrics, and
 * skipped per key), a staging key giving up after one retry, and `Meta.Test` failures ignored.
 */

const KEY = '$.Patient.Identifiers[0].ID';

/** A server with one keyed destination `d` at `url`, closed after the test. */
async function serve(
  t: { after: (fn: () => Promise<void>) => void },
  url: string,
  extra: { maxInFlight: number; environment?: 'staging' },
): Promise<Harness> {
  const h = await startHarness({ destinations: [{ id: 'd', url, orderingKey: KEY, ...extra }] });
  t.after(() => h.close());
  return h;
}

const keyOf = (r: Received): string => decodeURIComponent(String(r.headers['x-switchboard-ordering-key']));
const seqOf = (r: Received): number => Number(r.headers['x-switchboard-sequence']);

/** Each key's first-seen sequence numbers, which must increase within the key. */
function assertPerKeyOrder(received: Received[]): void {
  const seen = new Map<string, number[]>();
  const firsts = new Set<string>();
  for (const r of received) {
    const id = String(r.headers['x-switchboard-log-id']);
    if (firsts.has(id)) continue;
    firsts.add(id);
    seen.set(keyOf(r), [...(seen.get(keyOf(r)) ?? []), seqOf(r)]);
  }
  for (const [key, seqs] of seen)
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      `key ${key} went back`,
    );
}

test('keys go in parallel up to maxInFlight, each in order; the receiver never sees more than 4 at once', async (t) => {
  const slow = await SlowReceiver.start(() => 15);
  t.after(() => slow.close());
  const h = await serve(t, slow.url, { maxInFlight: 4 });
  const sends = [];
  for (let i = 0; i < 48; i++) sends.push(h.send(patientAdmin(i % 12)));
  for (const answer of await Promise.all(sends)) assert.equal(answer.status, 200);
  await waitFor(() => slow.logIds().length === 48, 10_000, '48 deliveries');
  assert.ok(slow.maxInFlight <= 4, `at most maxInFlight in flight (saw ${slow.maxInFlight})`);
  assert.ok(slow.maxInFlight >= 2, `keys went in parallel (saw ${slow.maxInFlight})`);
  assertPerKeyOrder(slow.received);
  assert.equal(new Set(slow.received.map(keyOf)).size, 12);
});

test('a production key that keeps failing blocks only itself: listed, counted in metrics, skipped by key', async (t) => {
  const picky = await Receiver.start();
  t.after(() => picky.close());
  const h = await serve(t, picky.url, { maxInFlight: 8 });
  let firstBad: string | undefined;
  picky.respond = (r) => {
    if (keyOf(r) !== 'MRN-666') return 200;
    firstBad ??= String(r.headers['x-switchboard-log-id']);
    return String(r.headers['x-switchboard-log-id']) === firstBad ? 503 : 200;
  };
  await h.send(patientAdmin(666));
  await h.send(patientAdmin(666));
  for (let i = 0; i < 20; i++) await h.send(patientAdmin(i));
  await waitFor(
    () => picky.received.filter((r) => keyOf(r) !== 'MRN-666').length === 20,
    10_000,
    'the other keys',
  );
  await h.settled();
  const bad = picky.received.filter((r) => keyOf(r) === 'MRN-666');
  assert.equal(bad.length, 2, 'tried, retried at once, then waiting 10 s (the clock does not move)');
  assert.ok(bad.every((r) => String(r.headers['x-switchboard-log-id']) === firstBad));

  const queue = (await h.platform('GET', '/platform/v1/destinations/d/queue')).body;
  assert.equal(queue.state, 'blocked');
  assert.equal(queue.depth, 2);
  assert.equal(queue.blockedKeys.count, 1);
  assert.equal(queue.blockedKeys.keys[0].key, 'MRN-666');
  assert.equal(queue.blockedKeys.keys[0].depth, 2);
  assert.equal(queue.blockedKeys.keys[0].head.id, firstBad);
  assert.equal(queue.blockedKeys.keys[0].lastError.statusCode, 503);
  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  assert.match(metrics, /switchboard_queue_blocked_keys\{organization="acme",destination="d"\} 1/);
  assert.match(
    metrics,
    /switchboard_queue_oldest_blocked_age_seconds\{organization="acme",destination="d"\}/,
  );

  const unblocked = await h.platform('POST', '/platform/v1/destinations/d/queue/skip', { key: 'MRN-1' });
  assert.equal(unblocked.status, 409, 'a key that is not blocked needs a pause');
  const skipped = await h.platform('POST', '/platform/v1/destinations/d/queue/skip', {
    key: 'MRN-666',
    reason: 'bad message',
  });
  assert.equal(skipped.status, 200);
  assert.equal(skipped.body.skipped.id, firstBad);
  assert.equal(skipped.body.skipped.orderingKey, 'MRN-666');
  await waitFor(
    () => picky.received.filter((r) => keyOf(r) === 'MRN-666').length === 3,
    5_000,
    'the next log of the key',
  );
  await h.settled();
  const after = (await h.platform('GET', '/platform/v1/destinations/d/queue')).body;
  assert.equal(after.depth, 0);
  assert.equal(after.blockedKeys.count, 0);
  assert.equal(after.state, 'active');
  assertPerKeyOrder(picky.received);
  const audit = (await h.platform('GET', '/platform/v1/audit')).body;
  assert.ok(
    audit.entries.some(
      (e: { action: string; changes: { key?: string } }) =>
        e.action === 'skip' && e.changes.key === 'MRN-666',
    ),
  );
});

test('staging: a failing key is retried once after the pause, then failed, and moves on; Meta.Test failures are ignored', async (t) => {
  const staging = await Receiver.start();
  t.after(() => staging.close());
  const h = await serve(t, staging.url, { maxInFlight: 8, environment: 'staging' });
  staging.respond = (r) => (keyOf(r) === 'MRN-7' && r.json.Meta?.EventType === 'NewPatient' ? 500 : 200);
  await h.send(patientAdmin(7));
  await h.send(patientAdmin(7, { EventType: 'PatientUpdate' }));
  await h.send(patientAdmin(8, { Test: true }));
  await waitFor(() => staging.received.length >= 2, 5_000, 'first attempts');
  await h.settled();
  assert.equal(
    staging.received.filter((r) => keyOf(r) === 'MRN-7').length,
    1,
    'the update waits behind the failure',
  );
  h.clock.advance(5_000);
  await waitFor(
    () => staging.received.filter((r) => keyOf(r) === 'MRN-7').length === 3,
    5_000,
    'retry, then the next',
  );
  await h.settled();
  const seven = staging.received.filter((r) => keyOf(r) === 'MRN-7').map((r) => r.json.Meta?.EventType);
  assert.deepEqual(seven, ['NewPatient', 'NewPatient', 'PatientUpdate']);
  const queue = (await h.platform('GET', '/platform/v1/destinations/d/queue')).body;
  assert.equal(queue.depth, 0);
  assert.equal(queue.blockedKeys.count, 0);
});
