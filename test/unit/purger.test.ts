import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { Purger } from '../../src/retention/purger.ts';
import type { PurgeCut, PurgeResult, RetentionStore } from '../../src/store/roles/retention-store.ts';

/** A store whose purge answers the given counts in turn and records what it was asked. */
function storeAnswering(answers: Partial<PurgeResult>[]): { store: RetentionStore; cuts: PurgeCut[] } {
  const cuts: PurgeCut[] = [];
  const store: RetentionStore = {
    async purge(cut: PurgeCut): Promise<PurgeResult> {
      cuts.push(cut);
      return { logs: 0, messages: 0, alerts: 0, idempotencyKeys: 0, audit: 0, ...answers.shift() };
    },
  };
  return { store, cuts };
}

const HOUR = 3_600_000;
const settings = { logsMs: 24 * HOUR, intervalMs: HOUR, batchSize: 2 };

const purgerOn = (
  store: RetentionStore,
  clock: ManualClock,
  overrides: Partial<typeof settings> = {},
): Purger =>
  new Purger({
    retention: store,
    clock,
    logger: createLogger('silent'),
    settings: { ...settings, ...overrides },
    idempotencyWindowMs: HOUR,
  });

test('purgeNow: cuts at now - logsMs and now - idempotency window; repeats while a batch came back full', async () => {
  const clock = new ManualClock(100 * HOUR);
  const { store, cuts } = storeAnswering([
    { logs: 2, messages: 2 },
    { idempotencyKeys: 2 },
    { logs: 1, alerts: 1 },
  ]);
  const purger = purgerOn(store, clock);
  assert.deepEqual(await purger.purgeNow(), {
    logs: 3,
    messages: 2,
    alerts: 1,
    idempotencyKeys: 2,
    audit: 0,
  });
  assert.equal(cuts.length, 3);
  assert.deepEqual(cuts[0], { before: 76 * HOUR, idempotencyBefore: 99 * HOUR, limit: 2 });
});

test('logsMs 0 keeps every log and alert; idempotency keys still expire', async () => {
  const { store, cuts } = storeAnswering([]);
  const purger = purgerOn(store, new ManualClock(100 * HOUR), { logsMs: 0 });
  await purger.purgeNow();
  assert.equal(cuts[0]!.before, Number.MIN_SAFE_INTEGER);
  assert.equal(cuts[0]!.idempotencyBefore, 99 * HOUR);
});

test('the schedule: a purge every intervalMs of the clock, none before; close stops it', async () => {
  const clock = new ManualClock(0);
  const { store, cuts } = storeAnswering([]);
  const purger = purgerOn(store, clock);
  purger.start();
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  clock.advance(HOUR - 1);
  await tick();
  assert.equal(cuts.length, 0);
  clock.advance(1);
  await tick();
  assert.equal(cuts.length, 1);
  await tick();
  clock.advance(HOUR);
  await tick();
  assert.equal(cuts.length, 2);
  await purger.close();
  clock.advance(10 * HOUR);
  await tick();
  assert.equal(cuts.length, 2);
});
