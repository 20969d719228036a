import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideAlert, describeFailure } from '../../src/delivery/alert-policy.ts';

test('failing once, at the Nth failed attempt of a log, while no alert is open', () => {
  const kinds = [1, 2, 3, 4, 5].map((attempts) =>
    decideAlert({ outcome: 'failed', attempts, alertOpen: false, afterAttempts: 3 }),
  );
  assert.deepEqual(kinds, [null, null, 'failing', 'failing', 'failing']);
  // Once open (the runner records it), further failures say nothing more.
  assert.equal(decideAlert({ outcome: 'failed', attempts: 4, alertOpen: true, afterAttempts: 3 }), null);
});

test('recovered on the next received log of a queue with an open alert, warnings included', () => {
  assert.equal(
    decideAlert({ outcome: 'succeeded', attempts: 6, alertOpen: true, afterAttempts: 3 }),
    'recovered',
  );
  assert.equal(
    decideAlert({ outcome: 'warning', attempts: 1, alertOpen: true, afterAttempts: 3 }),
    'recovered',
  );
  assert.equal(decideAlert({ outcome: 'succeeded', attempts: 6, alertOpen: false, afterAttempts: 3 }), null);
});

test('the failure text: the error, else the status, else "failed"', () => {
  assert.equal(describeFailure({ error: 'connect ECONNREFUSED', statusCode: null }), 'connect ECONNREFUSED');
  assert.equal(describeFailure({ error: null, statusCode: 503 }), 'HTTP 503');
  assert.equal(describeFailure({ error: null, statusCode: null }), 'failed');
});
