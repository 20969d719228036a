import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OTHER_PLATFORM_KEY, patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let h: Harness;
let receiver: Receiver;
let failing = new Set<string>();

before(async () => {
  receiver = await Receiver.start();
  receiver.respond = (r) => (failing.has(String(r.headers['x-switchboard-log-id'])) ? 500 : 200);
  h = await startHarness({ destinations: [{ id: 'app', url: receiver.url }] });
});

after(async () => {
  await h.close();
  await receiver.close();
});

const sendOne = async (n: number): Promise<string> => (await h.send(patientAdmin(n))).body.Meta.Logs[0].ID;

test('pause holds deliveries, resume releases them in order', async () => {
  const paused = await h.platform('POST', '/platform/v1/destinations/app/queue/pause', {
    by: 'alice',
    reason: 'receiver maintenance',
  });
  assert.equal(paused.status, 200);
  assert.equal(paused.body.state, 'paused');
  assert.equal(paused.body.paused.by, 'alice');
  assert.equal(paused.body.paused.reason, 'receiver maintenance');

  const ids = [await sendOne(1), await sendOne(2), await sendOne(3)];
  await h.settled();
  assert.equal(receiver.received.length, 0, 'nothing delivered while paused');
  const queue = await h.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(queue.body.depth, 3);
  assert.equal(queue.body.head.id, ids[0]);
  assert.ok(queue.body.oldestQueuedAgeMs >= 0);

  const resumed = await h.platform('POST', '/platform/v1/destinations/app/queue/resume');
  assert.equal(resumed.status, 200);
  assert.notEqual(resumed.body.state, 'paused');
  await waitFor(() => receiver.received.length === 3, 5_000, 'deliveries after resume');
  assert.deepEqual(receiver.logIds(), ids);
});

test('skip: only on a paused queue; the head becomes failed with who and why; the rest follows', async () => {
  const start = receiver.received.length;
  const poison = await sendOne(10);
  failing.add(poison);
  const next = await sendOne(11);
  // Production: the poison log blocks the queue.
  await waitFor(() => receiver.received.length === start + 2, 5_000, 'two failed attempts');
  const blocked = await h.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(blocked.body.state, 'blocked');
  assert.equal(blocked.body.head.id, poison);

  const refused = await h.platform('POST', '/platform/v1/destinations/app/queue/skip', { by: 'bob' });
  assert.equal(refused.status, 409, 'skip needs a paused queue');

  await h.platform('POST', '/platform/v1/destinations/app/queue/pause', { by: 'bob' });
  const skipped = await h.platform('POST', '/platform/v1/destinations/app/queue/skip', {
    by: 'bob',
    reason: 'malformed order',
  });
  assert.equal(skipped.status, 200);
  assert.equal(skipped.body.skipped.id, poison);
  assert.equal(skipped.body.skipped.status, 'failed');
  assert.match(skipped.body.skipped.failedReason, /bob.*malformed order/);
  assert.equal(skipped.body.queue.head.id, next);

  await h.platform('POST', '/platform/v1/destinations/app/queue/resume');
  await waitFor(() => receiver.logIds().includes(next), 5_000, 'the log after the skipped one');
  const detail = await h.platform('GET', `/platform/v1/logs/${poison}`);
  assert.equal(detail.body.status, 'failed');
  failing = new Set();
});

test('skip on an empty paused queue is a conflict', async () => {
  await h.platform('POST', '/platform/v1/destinations/app/queue/pause');
  const res = await h.platform('POST', '/platform/v1/destinations/app/queue/skip');
  assert.equal(res.status, 409);
  assert.equal(res.body.error.code, 'CONFLICT');
  await h.platform('POST', '/platform/v1/destinations/app/queue/resume');
});

test('manual retry of a delivered log: a new log, linked, at the back of the queue', async () => {
  const original = await sendOne(20);
  await waitFor(() => receiver.logIds().includes(original), 5_000, 'first delivery');
  await h.platform('POST', '/platform/v1/destinations/app/queue/pause');
  const later = await sendOne(21);
  const retried = await h.platform('POST', `/platform/v1/logs/${original}/retry`);
  assert.equal(retried.status, 200);
  const copy = retried.body.log;
  assert.notEqual(copy.id, original);
  assert.equal(copy.retryOf, original);
  assert.equal(copy.status, 'pending');
  await h.platform('POST', '/platform/v1/destinations/app/queue/resume');
  await waitFor(() => receiver.logIds().includes(copy.id), 5_000, 'the retried copy');
  const ids = receiver.logIds();
  assert.ok(ids.indexOf(later) < ids.indexOf(copy.id), 'the retry goes behind what was already queued');
  const again = receiver.received.filter((r) => r.headers['x-switchboard-log-id'] === copy.id)[0]!;
  assert.equal(JSON.parse(again.body).Patient.Identifiers[0].ID, 'MRN-20', 'same payload');
  const detail = await h.platform('GET', `/platform/v1/logs/${original}`);
  assert.ok(
    detail.body.related.some((l: { id: string }) => l.id === copy.id),
    'linked from the original',
  );
});

test('manual retry of a failed test message', async () => {
  const res = await h.send(patientAdmin(30, { Test: true }));
  const id = res.body.Meta.Logs[0].ID as string;
  failing.add(id);
  await waitFor(async () => (await h.platform('GET', `/platform/v1/logs/${id}`)).body.status === 'failed');
  failing = new Set();
  const retried = await h.platform('POST', `/platform/v1/logs/${id}/retry`);
  await waitFor(() => receiver.logIds().includes(retried.body.log.id), 5_000, 'retried test message');
});

test('operators see only their own organization', async () => {
  const id = await sendOne(40);
  const other = (path: string, method: 'GET' | 'POST' = 'GET') =>
    h.platform(method, path, undefined, OTHER_PLATFORM_KEY);
  assert.equal((await other(`/platform/v1/logs/${id}`)).status, 404);
  assert.equal((await other(`/platform/v1/logs/${id}/retry`, 'POST')).status, 404);
  assert.equal((await other('/platform/v1/destinations/app/queue')).status, 404);
  assert.equal((await other('/platform/v1/destinations/app/queue/pause', 'POST')).status, 404);
  assert.deepEqual((await other('/platform/v1/logs')).body.logs, []);
  assert.equal(
    (await h.platform('GET', '/platform/v1/logs', undefined, 'pk_wrong_key_0000000000')).status,
    401,
  );
});

test('log search: filters and cursor paging', async () => {
  const all: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { logs: { id: string }[]; nextCursor: string | null } } = await h.platform(
      'GET',
      `/platform/v1/logs?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
    );
    all.push(...page.body.logs.map((l) => l.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  assert.equal(new Set(all).size, all.length, 'no log twice across pages');
  const total = await h.platform('GET', '/platform/v1/logs?limit=500');
  assert.deepEqual(
    all,
    total.body.logs.map((l: { id: string }) => l.id),
    'newest first, all of them',
  );

  const found = await h.platform('GET', '/platform/v1/logs?q=MRN-20');
  assert.ok(
    found.body.logs.length >= 2 &&
      found.body.logs.every((l: { dataModel: string }) => l.dataModel === 'PatientAdmin'),
  );
  const tests = await h.platform('GET', '/platform/v1/logs?test=true');
  assert.ok(tests.body.logs.length >= 1 && tests.body.logs.every((l: { test: boolean }) => l.test));
  const bad = await h.platform('GET', '/platform/v1/logs?status=bogus');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /status/);
});

test('log search by identifier: served from the search keys, by prefix or exactly, in any case; payload text needs a date range', async () => {
  const sent = await h.send({
    Meta: { DataModel: 'PatientAdmin', EventType: 'Arrival' },
    Patient: { Identifiers: [{ ID: 'KEY-MRN-555', IDType: 'MR' }], Demographics: { FirstName: 'Zelda' } },
    Visit: { VisitNumber: 'VN-9001' },
  });
  assert.equal(sent.status, 200);
  const logId = sent.body.Meta.Logs[0].ID as string;
  const ids = async (query: string): Promise<string[]> => {
    const res = await h.platform('GET', `/platform/v1/logs?${query}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.logs.map((l: { id: string }) => l.id);
  };
  assert.deepEqual(await ids('q=key-mrn-555'), [logId], 'the patient identifier, in another case');
  assert.deepEqual(await ids('q=VN-9001'), [logId], 'the visit number');
  assert.deepEqual(await ids('q=KEY-MRN-5'), [logId], 'a prefix');
  assert.deepEqual(await ids('q=KEY-MRN-5&match=exact'), []);
  assert.deepEqual(await ids('q=Zelda'), [], 'a name is not an identifier');

  const noRange = await h.platform('GET', '/platform/v1/logs?q=Zelda&match=substring');
  assert.equal(noRange.status, 400);
  assert.match(noRange.body.error.message, /from and to/);
  const now = h.clock.now();
  const tooLong = await h.platform(
    'GET',
    `/platform/v1/logs?q=Zelda&match=substring&from=${now - 8 * 86_400_000}&to=${now}`,
  );
  assert.equal(tooLong.status, 400);
  assert.match(tooLong.body.error.message, /7 days/);
  assert.deepEqual(await ids(`q=Zelda&match=substring&from=${now - 60_000}&to=${now + 60_000}`), [logId]);
  assert.equal((await h.platform('GET', '/platform/v1/logs?q=x&match=fuzzy')).status, 400);
});
