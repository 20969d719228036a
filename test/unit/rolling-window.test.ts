import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryRateCounter, evaluate } from '../../src/api/rate-limit/rolling-window.ts';

const W = 300_000;

test('within the limit: allowed, with what remains', () => {
  assert.deepEqual(evaluate(10, W, 1_000, { windowStart: 0, current: 4, previous: 0 }), {
    allowed: true,
    remaining: 6,
  });
});

test('the previous window counts in proportion to its overlap with the rolling window', () => {
  // A quarter into this window, three quarters of the previous window still count: 8 * 0.75 + 4 = 10.
  assert.equal(evaluate(10, W, W / 4, { windowStart: 0, current: 4, previous: 8 }).allowed, true);
  assert.equal(evaluate(10, W, W / 4, { windowStart: 0, current: 5, previous: 8 }).allowed, false);
});

test('Retry-After is when the estimate is back under the limit', () => {
  const decision = evaluate(10, W, W / 4, { windowStart: 0, current: 5, previous: 8 });
  assert.ok(!decision.allowed);
  // 8 * (1 - e/W) + 5 <= 10  =>  e >= 3W/8; from W/4 that is W/8 = 37.5 s.
  assert.equal(decision.retryAfterSeconds, 38);
  assert.equal(evaluate(10, W, W / 4 + 37_500, { windowStart: 0, current: 5, previous: 8 }).allowed, true);
});

test('over the limit within the window itself: wait into the next window', () => {
  const decision = evaluate(10, W, 60_000, { windowStart: 0, current: 20, previous: 0 });
  assert.ok(!decision.allowed);
  // Rest of this window (240 s) plus half the next (20 * (1 - e/W) <= 10 => e >= W/2 = 150 s).
  assert.equal(decision.retryAfterSeconds, 390);
});

test('the memory counter rolls its windows and forgets old ones', async () => {
  const counter = new MemoryRateCounter();
  await counter.hit('a', 10, W);
  assert.deepEqual(await counter.hit('a', 20, W), { windowStart: 0, current: 2, previous: 0 });
  assert.deepEqual(await counter.hit('a', W + 1, W), { windowStart: W, current: 1, previous: 2 });
  assert.deepEqual(await counter.hit('a', 3 * W + 1, W), { windowStart: 3 * W, current: 1, previous: 0 });
  assert.deepEqual(await counter.hit('b', 3 * W + 2, W), { windowStart: 3 * W, current: 1, previous: 0 });
});
