import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config.ts';
import { decideRetry, productionDelay } from '../../src/delivery/retry-policy.ts';
import type { Destination, Environment } from '../../src/models/entities.ts';

/** The default delivery settings, as a configuration without any sets them. */
const settings = parseConfig({}).delivery;

const destination = (environment: Environment, extra: Partial<Destination> = {}): Destination => ({
  orgId: 'acme',
  id: 'app',
  name: 'App',
  environment,
  url: 'http://127.0.0.1:1/x',
  ...extra,
});

/** The waits after failed attempts 1..n, in seconds; null where the policy gives up. */
function schedule(target: Destination, attempts: number, isTest = false): (number | null)[] {
  return Array.from({ length: attempts }, (_, i) => {
    const decision = decideRetry(target, isTest, i + 1, settings);
    return decision.retry ? decision.delayMs / 1_000 : null;
  });
}

test('production: at once, then Fibonacci multiples of 10 s, capped at 120 s', () => {
  assert.deepEqual(schedule(destination('production'), 11), [0, 10, 10, 20, 30, 50, 80, 120, 120, 120, 120]);
});

test('production: retried forever, at the maximum interval', () => {
  for (const failed of [50, 1_000, 1_000_000])
    assert.deepEqual(decideRetry(destination('production'), false, failed, settings), {
      retry: true,
      delayMs: 120_000,
    });
});

test("production: a destination's own initial and maximum delays win over the server's", () => {
  const own = destination('production', { retryInitialDelayMs: 1_000, retryMaxDelayMs: 5_000 });
  assert.deepEqual(schedule(own, 8), [0, 1, 1, 2, 3, 5, 5, 5]);
  assert.equal(productionDelay(30, 10_000, 120_000), 120_000);
});

test('staging and development: one retry after 5 s, then failed with a reason', () => {
  for (const environment of ['staging', 'development'] as const) {
    const target = destination(environment);
    assert.deepEqual(schedule(target, 3), [5, null, null]);
    const gaveUp = decideRetry(target, false, 2, settings);
    assert.ok(!gaveUp.retry);
    assert.match(gaveUp.reason, new RegExp(`${environment} destination: failed after one retry`));
  }
});

test('Meta.Test messages: never retried, whatever the environment', () => {
  for (const environment of ['production', 'staging', 'development'] as const) {
    assert.deepEqual(schedule(destination(environment), 3, true), [null, null, null]);
    const decision = decideRetry(destination(environment), true, 1, settings);
    assert.ok(!decision.retry);
    assert.match(decision.reason, /Test message/);
  }
});

test("a receiver's Retry-After: waited at least, never shortens the schedule, capped at 10x the longest wait", () => {
  const production = destination('production');
  assert.deepEqual(decideRetry(production, false, 1, settings, 10_000), { retry: true, delayMs: 10_000 });
  assert.deepEqual(decideRetry(production, false, 7, settings, 1_000), { retry: true, delayMs: 80_000 });
  assert.deepEqual(decideRetry(production, false, 1, settings, 10 ** 9), {
    retry: true,
    delayMs: settings.retryMaxDelayMs * 10,
  });
  assert.deepEqual(decideRetry(destination('staging'), false, 1, settings, 30_000), {
    retry: true,
    delayMs: 30_000,
  });
  assert.ok(!decideRetry(destination('staging'), false, 2, settings, 30_000).retry, 'still one retry');
  assert.ok(!decideRetry(production, true, 1, settings, 30_000).retry, 'a test message is not retried');
});
