import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRetryAfter } from '../../src/delivery/outbound.ts';

test('Retry-After: delay-seconds, an HTTP date against now, or nothing', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  assert.equal(parseRetryAfter('10', now), 10_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Tue, 01 Dec 2026 10:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Tue, 01 Dec 2026 09:00:00 GMT', now), 0, 'a date past is now');
  assert.equal(parseRetryAfter(['5', '7'], now), 5_000);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('-5', now), undefined);
});
