import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterFailure, keepFor, lockedFor, type LockoutState } from '../../src/api/lockout/lockout-policy.ts';

const rule = { maxFailures: 10, windowMs: 60_000, lockMs: 60_000, maxLockMs: 3_600_000 };

function fail(
  times: number,
  from: LockoutState | undefined,
  at: number,
  step = 100,
): LockoutState | undefined {
  let state = from;
  for (let i = 0; i < times; i++) state = afterFailure(state, at + i * step, rule);
  return state;
}

test('10 failures within a minute lock for a minute; 9 do not', () => {
  const nine = fail(9, undefined, 0);
  assert.equal(lockedFor(nine, 1_000), 0);
  const ten = afterFailure(nine, 1_000, rule);
  assert.equal(lockedFor(ten, 1_000), 60_000);
  assert.equal(lockedFor(ten, 61_000), 0);
});

test('failures spread beyond the window do not add up', () => {
  const slow = fail(30, undefined, 0, 7_000);
  assert.equal(lockedFor(slow, 30 * 7_000), 0);
});

test('each lockout doubles the next, up to the cap; an old lockout is forgotten', () => {
  let state = fail(10, undefined, 0);
  assert.equal(state!.lockedUntil - 900, 60_000, 'locked from the 10th failure');
  state = fail(10, state, 70_000);
  assert.equal(state!.lockedUntil - (70_000 + 900), 120_000);
  state = fail(10, state, 300_000);
  assert.equal(state!.lockedUntil - (300_000 + 900), 240_000);
  for (let i = 0; i < 10; i++) state = fail(10, state, state!.lockedUntil + 1);
  assert.equal(state!.lockedUntil - state!.since, 3_600_000, 'capped at maxLockMs');
  const later = fail(10, state, state!.lockedUntil + 3_600_000);
  assert.equal(later!.lockedUntil - later!.since, 60_000, 'forgotten after maxLockMs');
});

test('kept long enough to count the window and remember the doubling', () => {
  const state = fail(10, undefined, 0)!;
  assert.equal(keepFor(state, 900, rule), state.lockedUntil + rule.maxLockMs - 900);
});
