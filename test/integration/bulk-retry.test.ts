import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BULK_RETRY_PAGE } from '../../src/services/bulk-retry.ts';
import { OTHER_PLATFORM_KEY, patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * POST /platform/v1/logs/retry: every log a search matches, retried in its original order, page
 * by page; a dry run counts them.
 */

const TOTAL = BULK_RETRY_PAGE * 2 + 150;
let h: Harness;
let receiver: Receiver;
let refusing = true;

before(async () => {
  receiver = await Receiver.start();
  receiver.respond = () => (refusing ? 500 : 200);
  h = await startHarness({
    // Test messages fail once and are left failed: a backlog of failed logs to retry.
    destinations: [{ id: 'app', url: receiver.url }],
  });
});

after(async () => {
  await h.close();
  await receiver.close();
});

test(`${TOTAL} failed logs: a dry run counts them; the retry copies them in order, over pages`, async () => {
  const sent: string[] = [];
  for (let i = 0; i < TOTAL; i += 50) {
    const answers = await Promise.all(
      Array.from({ length: Math.min(50, TOTAL - i) }, (_, j) => h.send(patientAdmin(i + j, { Test: true }))),
    );
    sent.push(...answers.map((a) => a.body.Meta.Logs[0].ID as string));
  }
  await waitFor(() => receiver.received.length >= TOTAL, 30_000, 'every first attempt');
  await h.settled();
  const filter = 'status=failed&destinationId=app';
  const dry = await h.platform('POST', `/platform/v1/logs/retry?${filter}&dryRun=true`);
  assert.equal(dry.status, 200);
  assert.deepEqual(dry.body, { dryRun: true, count: TOTAL });
  assert.equal(receiver.received.length, TOTAL, 'a dry run retries nothing');

  refusing = false;
  const firstSeen = receiver.received.length;
  const res = await h.platform('POST', `/platform/v1/logs/retry?${filter}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.count, TOTAL);
  assert.equal(res.body.logs.length, TOTAL);
  // Oldest first: the copies come in the order the originals were accepted (their sequence).
  const sequenceOf = new Map(
    receiver.received
      .slice(0, TOTAL)
      .map((r) => [String(r.headers['x-switchboard-log-id']), Number(r.headers['x-switchboard-sequence'])]),
  );
  const copies = res.body.logs as { id: string; retryOf: string }[];
  const originals = copies.map((l) => sequenceOf.get(l.retryOf)!);
  assert.deepEqual(
    originals,
    [...originals].sort((a, b) => a - b),
  );
  assert.equal(new Set(originals).size, TOTAL);
  assert.deepEqual(new Set(copies.map((l) => l.retryOf)), new Set(sent));

  await waitFor(() => receiver.received.length === firstSeen + TOTAL, 30_000, 'the copies delivered');
  const delivered = receiver.received.slice(firstSeen).map((r) => String(r.headers['x-switchboard-log-id']));
  assert.deepEqual(
    delivered,
    (res.body.logs as { id: string }[]).map((l) => l.id),
    'delivered in that order',
  );
  // The copies are not failed; a second bulk retry of failed logs finds the originals only.
  const again = await h.platform('POST', `/platform/v1/logs/retry?${filter}&dryRun=true`);
  assert.equal(again.body.count, TOTAL);
});

test("bad filters are 400 naming them; another organization's key retries none of acme's logs", async () => {
  const bad = await h.platform('POST', '/platform/v1/logs/retry?status=bogus');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /status/);
  const substring = await h.platform('POST', '/platform/v1/logs/retry?q=x&match=substring');
  assert.equal(substring.status, 400);
  const other = await h.platform(
    'POST',
    '/platform/v1/logs/retry?status=failed',
    undefined,
    OTHER_PLATFORM_KEY,
  );
  assert.deepEqual(other.body, { logs: [], count: 0 });
  const none = await h.platform('POST', '/platform/v1/logs/retry?q=NO-SUCH-MRN');
  assert.deepEqual(none.body, { logs: [], count: 0 });
});
