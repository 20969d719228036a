import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadline } from '../../src/delivery/deadline.ts';

test('fires when the time runs out, and says so', async () => {
  const deadline = new Deadline(20);
  assert.equal(deadline.signal.aborted, false);
  await sleep(60);
  assert.equal(deadline.signal.aborted, true);
  assert.equal(deadline.timedOut, true);
  deadline.clear();
});

test('fires with the outer signal, which is not a timeout; an outer already aborted fires at once', () => {
  const outer = new AbortController();
  const deadline = new Deadline(60_000, outer.signal);
  outer.abort();
  assert.equal(deadline.signal.aborted, true);
  assert.equal(deadline.timedOut, false);
  deadline.clear();

  const early = new Deadline(60_000, AbortSignal.abort());
  assert.equal(early.signal.aborted, true);
  early.clear();
});

test('clear() stops the timer and lets go of the outer signal', async () => {
  const outer = new AbortController();
  const deadline = new Deadline(20, outer.signal);
  deadline.clear();
  await sleep(60);
  outer.abort();
  assert.equal(deadline.signal.aborted, false, 'neither the timer nor the outer signal reached it');
});
