import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeaseFence } from '../../src/delivery/lease-fence.ts';

/** The lease deadline (delivery/lease-fence.ts), on the real monotonic clock with short spans. */

test('trusted for a fifth less than the lease, at most 5 s less', () => {
  assert.equal(LeaseFence.trustedFor(3_000), 2_400);
  assert.equal(LeaseFence.trustedFor(30_000), 25_000);
  assert.equal(LeaseFence.trustedFor(100_000), 95_000);
});

test('held until the deadline, then aborted by its own timer; an extension moves the deadline', async () => {
  const fence = new LeaseFence(performance.now() + 40);
  assert.equal(fence.held(), true);
  fence.extend(performance.now() + 80);
  const aborted = new Promise((resolve) => fence.signal.addEventListener('abort', resolve));
  const started = performance.now();
  await aborted;
  assert.ok(performance.now() - started >= 70, 'the extension counted');
  assert.equal(fence.held(), false);
  fence.extend(performance.now() + 10_000);
  assert.equal(fence.held(), false, 'an expired fence stays expired');
});

test('past its deadline a fence is not held even before its timer ran (a stall)', () => {
  const fence = new LeaseFence(performance.now() + 5);
  const until = performance.now() + 10;
  while (performance.now() < until); // the process busy, as after a stall: no timer has run
  assert.equal(fence.held(), false);
  assert.equal(fence.signal.aborted, true);
});

test('suspended: no new attempt, the one in flight not aborted; expire aborts at once', () => {
  const fence = new LeaseFence(performance.now() + 10_000);
  fence.suspend();
  assert.equal(fence.held(), false);
  assert.equal(fence.signal.aborted, false);
  fence.expire();
  assert.equal(fence.signal.aborted, true);
  fence.close();
});
