import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, test } from 'node:test';
import { freePort } from '../helpers/child-server.ts';
import {
  attemptsRecorded,
  patientAdmin,
  startHarness,
  type Environment,
  type Harness,
} from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/** An attempt as the Platform API shows it. */
interface Attempt {
  statusCode: number | null;
  outcome: string;
  responseExcerpt: string | null;
  error: string | null;
  durationMs: number;
}

let h: Harness | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await h?.close();
  await receiver?.close();
  h = receiver = undefined;
});

/** A receiver that fails the 2nd message (patient MRN-2) `failures` times, then accepts it. */
async function setup(
  environment: Environment,
  failures: number,
): Promise<{ h: Harness; receiver: Receiver }> {
  receiver = await Receiver.start();
  let failed = 0;
  receiver.respond = (request) => {
    const isSecond = request.body.includes('"MRN-2"');
    if (isSecond && failed < failures) {
      failed++;
      return { status: 503, body: '{"error":"busy"}' };
    }
    return 200;
  };
  h = await startHarness({ destinations: [{ id: 'app', url: receiver.url, environment }] });
  return { h, receiver };
}

async function sendFive(h: Harness, extra: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 1; n <= 5; n++) {
    const res = await h.send(patientAdmin(n, extra));
    assert.equal(res.status, 200);
    ids.push(res.body.Meta.Logs[0].ID as string);
  }
  return ids;
}

const patientsSeen = (r: Receiver): string[] =>
  r.received.map((x) => String((x.json.Patient as { Identifiers: { ID: string }[] }).Identifiers[0]!.ID));

test('production: a failing log blocks its queue and is retried on the Fibonacci schedule until received', async () => {
  const { h, receiver } = await setup('production', 4);
  const ids = await sendFive(h);

  // Attempt 1 fails, attempt 2 (at once) fails; then the queue waits 10 s, with nothing after 2 delivered.
  await waitFor(() => receiver.received.length === 3, 5_000, 'first deliveries');
  await h.settled();
  assert.deepEqual(patientsSeen(receiver), ['MRN-1', 'MRN-2', 'MRN-2']);
  const queue = await h.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(queue.body.state, 'blocked');
  assert.equal(queue.body.depth, 4);
  assert.equal(queue.body.head.id, ids[1]);
  assert.equal(queue.body.head.state, 'retrying');
  assert.equal(queue.body.lastError.statusCode, 503);

  // 9.9 s later: still waiting. At 10 s: attempt 3.
  h.clock.advance(9_900);
  await h.settled();
  assert.equal(receiver.received.length, 3, 'no attempt before the wait is over');
  h.clock.advance(100);
  await waitFor(() => receiver.received.length === 4, 5_000, 'attempt 3');
  await attemptsRecorded(h, 3);
  // Attempt 4 after another 10 s, attempt 5 after 20 s.
  h.clock.advance(10_000);
  await waitFor(() => receiver.received.length === 5, 5_000, 'attempt 4');
  await attemptsRecorded(h, 4);
  h.clock.advance(19_000);
  await h.settled();
  assert.equal(receiver.received.length, 5, 'the third wait is 20 s');
  h.clock.advance(1_000);
  await waitFor(() => receiver.received.length === 9, 5_000, 'attempt 5 and the rest');

  assert.deepEqual(patientsSeen(receiver), [
    'MRN-1',
    'MRN-2',
    'MRN-2',
    'MRN-2',
    'MRN-2',
    'MRN-2',
    'MRN-3',
    'MRN-4',
    'MRN-5',
  ]);
  assert.deepEqual(receiver.logIds(), ids, 'every log once, in acceptance order');

  const detail = await h.platform('GET', `/platform/v1/logs/${ids[1]}`);
  assert.equal(detail.body.status, 'succeeded');
  const attempts = detail.body.attempts as {
    startedAt: string;
    statusCode: number;
    outcome: string;
    id: string;
  }[];
  assert.equal(attempts.length, 5);
  assert.deepEqual(
    attempts.map((a) => a.statusCode),
    [503, 503, 503, 503, 200],
  );
  assert.deepEqual(
    attempts.map((a) => a.outcome),
    ['failed', 'failed', 'failed', 'failed', 'succeeded'],
  );
  const starts = attempts.map((a) => Date.parse(a.startedAt));
  assert.deepEqual(
    starts.slice(1).map((s, i) => s - starts[i]!),
    [0, 10_000, 10_000, 20_000],
    'waits grow: at once, 10 s, 10 s, 20 s',
  );
  // Each attempt has its own ID, and the receiver saw the same IDs.
  assert.deepEqual(
    attempts.map((a) => a.id),
    receiver.received.slice(1, 6).map((r) => r.headers['x-switchboard-attempt-id']),
  );
  const after = await h.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(after.body.state, 'active');
  assert.equal(after.body.depth, 0);
});

test('production: retries never stop, and settle at the maximum interval', async () => {
  const { h, receiver } = await setup('production', 1_000);
  await h.send(patientAdmin(2));
  await waitFor(() => receiver.received.length === 2, 5_000, 'first two attempts');
  for (const wait of [10_000, 10_000, 20_000, 30_000, 50_000, 80_000, 120_000, 120_000, 120_000]) {
    const seen = receiver.received.length;
    await attemptsRecorded(h, seen);
    h.clock.advance(wait - 1);
    await h.settled();
    assert.equal(receiver.received.length, seen, `no attempt before ${wait} ms`);
    h.clock.advance(1);
    await waitFor(() => receiver.received.length === seen + 1, 5_000, `attempt after ${wait} ms`);
  }
  // The receiver saw the 11th attempt before Switchboard recorded its answer: wait for the record.
  await attemptsRecorded(h, 11);
  const logs = await h.platform('GET', '/platform/v1/logs?status=pending');
  assert.equal(logs.body.logs[0].attemptCount, 11);
});

test('staging: one retry after a brief pause, then the log fails and the queue moves on', async () => {
  const { h, receiver } = await setup('staging', 4);
  const ids = await sendFive(h);
  await waitFor(() => receiver.received.length === 2, 5_000, 'first attempts');
  await h.settled();
  assert.deepEqual(patientsSeen(receiver), ['MRN-1', 'MRN-2']);
  await attemptsRecorded(h, 1);
  h.clock.advance(4_999);
  await h.settled();
  assert.equal(receiver.received.length, 2, 'retry waits 5 s');
  h.clock.advance(1);
  await waitFor(() => receiver.received.length === 6, 5_000, 'the retry and the rest');
  assert.deepEqual(patientsSeen(receiver), ['MRN-1', 'MRN-2', 'MRN-2', 'MRN-3', 'MRN-4', 'MRN-5']);

  const failed = await h.platform('GET', `/platform/v1/logs/${ids[1]}`);
  assert.equal(failed.body.status, 'failed');
  assert.equal(failed.body.attempts.length, 2);
  assert.match(failed.body.failedReason, /staging/);
  const succeeded = await h.platform('GET', '/platform/v1/logs?status=succeeded');
  assert.equal(succeeded.body.logs.length, 4);
});

test('Meta.Test messages: a failure is recorded and ignored, no retry, no pause', async () => {
  const { h, receiver } = await setup('production', 4);
  const ids = await sendFive(h, { Test: true });
  await waitFor(() => receiver.received.length === 5, 5_000, 'all five, once each');
  await h.settled();
  assert.deepEqual(patientsSeen(receiver), ['MRN-1', 'MRN-2', 'MRN-3', 'MRN-4', 'MRN-5']);
  const failed = await h.platform('GET', `/platform/v1/logs/${ids[1]}`);
  assert.equal(failed.body.status, 'failed');
  assert.equal(failed.body.test, true);
  assert.equal(failed.body.attempts.length, 1);
  assert.equal(failed.body.attempts[0].statusCode, 503);
  const queue = await h.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(queue.body.state, 'active');
});

/**
 * Sends one message to a staging destination at `url` (200 ms timeout) and to a fast one: the
 * fast one gets it at once, and the slow one's first attempt is recorded as timed out.
 */
async function expectTimedOutAttempt(url: string): Promise<void> {
  receiver = await Receiver.start();
  h = await startHarness({
    destinations: [
      { id: 'slow', url, environment: 'staging', timeoutMs: 200 },
      { id: 'fast', url: receiver.url },
    ],
  });
  const res = await h.send(patientAdmin(1));
  // The fast destination is not held up by the slow one.
  await waitFor(() => receiver!.received.length === 1, 3_000, 'fast delivery');
  const log = res.body.Meta.Logs[0].ID as string;
  await waitFor(
    async () => (await h!.platform('GET', `/platform/v1/logs/${log}`)).body.attempts.length === 1,
    3_000,
    'timed-out attempt recorded',
  );
  const attempt = (await h.platform('GET', `/platform/v1/logs/${log}`)).body.attempts[0];
  assert.match(attempt.error, /Timed out after 200 ms/);
  assert.equal(attempt.statusCode, null);
  assert.equal(attempt.outcome, 'failed');
}

test('a destination that does not answer in time is a failed attempt, and the worker is not stuck', async () => {
  // Accepts the connection and stays silent.
  const silent = createNetServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await expectTimedOutAttempt(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/x`);
  } finally {
    silent.close();
  }
});

test('a destination that stalls mid-answer is timed out too, and its queue moves on', async () => {
  // Status, headers and the start of a body at once, then nothing more.
  const stalling = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).write('{"ok":'));
  });
  await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
  try {
    await expectTimedOutAttempt(`http://127.0.0.1:${(stalling.address() as AddressInfo).port}/x`);
  } finally {
    stalling.closeAllConnections();
    stalling.close();
  }
});

test('an attempt record holds the answer excerpt, the real duration and the error', async () => {
  // A receiver that fails every request after 30 ms with a text of its own.
  const failing = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      setTimeout(() => res.writeHead(503).end('receiver says: down for maintenance'), 30);
    });
  });
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  const failingUrl = `http://127.0.0.1:${(failing.address() as { port: number }).port}/x`;
  // Nothing listens here: the connection is refused.
  const refusedUrl = `http://127.0.0.1:${await freePort()}/x`;
  try {
    h = await startHarness({
      destinations: [
        { id: 'failing', url: failingUrl, environment: 'staging' },
        { id: 'refused', url: refusedUrl, environment: 'staging' },
      ],
    });
    const res = await h.send(patientAdmin(1, { Test: true }));
    assert.equal(res.status, 200);
    const meta = res.body.Meta as { Destinations: { ID: string }[]; Logs: { ID: string }[] };
    const logOf = (destination: string): string =>
      meta.Logs[meta.Destinations.findIndex((d) => d.ID === destination)]!.ID;
    // A Test message is not retried: one attempt each, then `failed`.
    const detail = async (destination: string): Promise<{ status: string; attempts: Attempt[] }> =>
      (await h!.platform('GET', `/platform/v1/logs/${logOf(destination)}`)).body;
    await waitFor(
      async () =>
        (await detail('failing')).status === 'failed' && (await detail('refused')).status === 'failed',
      5_000,
      'both attempts recorded',
    );

    const [answered] = (await detail('failing')).attempts;
    assert.equal(answered!.statusCode, 503);
    assert.equal(answered!.outcome, 'failed');
    assert.equal(answered!.responseExcerpt, 'receiver says: down for maintenance');
    assert.equal(answered!.error, 'Destination answered 503');
    assert.equal(typeof answered!.durationMs, 'number');
    assert.ok(answered!.durationMs >= 30, `durationMs ${answered!.durationMs} covers the receiver's 30 ms`);

    const [refused] = (await detail('refused')).attempts;
    assert.equal(refused!.statusCode, null);
    assert.equal(refused!.outcome, 'failed');
    assert.equal(refused!.responseExcerpt, null);
    assert.match(refused!.error ?? '', /ECONNREFUSED/);
    assert.equal(typeof refused!.durationMs, 'number');
  } finally {
    failing.close();
  }
});

test("a 429 with Retry-After: the next attempt waits that long (not 'at once'), and the attempt says so", async () => {
  receiver = await Receiver.start();
  let refused = 0;
  receiver.respond = () =>
    refused++ < 1 ? { status: 429, body: '{"error":"slow down"}', headers: { 'retry-after': '10' } } : 200;
  h = await startHarness({ destinations: [{ id: 'app', url: receiver.url }] });
  const id = (await h.send(patientAdmin(1))).body.Meta.Logs[0].ID as string;
  await waitFor(() => receiver!.received.length === 1, 5_000, 'the first attempt');
  await attemptsRecorded(h, 1);
  await h.settled();
  assert.equal(receiver.received.length, 1, 'no retry at once: the receiver asked for 10 s');
  const log = (await h.platform('GET', `/platform/v1/logs/${id}`)).body;
  assert.equal(log.attempts[0].statusCode, 429);
  assert.match(log.attempts[0].error, /Retry-After 10 s/);
  assert.equal(Date.parse(log.nextAttemptAt) - Date.parse(log.attempts[0].startedAt) >= 10_000, true);
  h.clock.advance(9_000);
  await h.settled();
  assert.equal(receiver.received.length, 1);
  h.clock.advance(1_100);
  await waitFor(() => receiver!.received.length === 2, 5_000, 'the retry after 10 s');
});
