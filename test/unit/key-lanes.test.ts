import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runKeyLanes, type KeyLanesInput } from '../../src/delivery/key-lanes.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import type { QueueStore } from '../../src/store/roles/queue-store.ts';

/**
 * The lanes of a keyed queue's runner (delivery/key-lanes.ts) with a stand-in store: the runner
 * never gives the queue back while a lane is in flight (even when reading the keys fails), never
 * runs more lanes than `maxInFlight` nor a key twice, and with `maxInFlight` 1 follows the
 * oldest key one log at a time.
 */

interface Harness {
  input: KeyLanesInput;
  started: string[];
  finish: (key: string) => void;
  inFlight: () => number;
  picks: string[];
}

function harness(keys: () => string[], options: { max: number; failReadAt?: number }): Harness {
  const clock = new ManualClock(1_000);
  const open = new Map<string, () => void>();
  const started: string[] = [];
  const picks: string[] = [];
  let reads = 0;
  const queues = {
    dueKeys: async (_queue, _owner, pick) => {
      reads++;
      picks.push(pick.order);
      if (reads === options.failReadAt) throw new Error('pool timeout');
      return keys()
        .filter((k) => !pick.exclude.includes(k))
        .slice(0, pick.limit)
        .map((key) => ({ key, dueAt: 1_000 }));
    },
  } as Pick<QueueStore, 'dueKeys'> as QueueStore;
  const input: KeyLanesInput = {
    queues,
    queue: { orgId: 'o', destinationId: 'd' },
    owner: 'w',
    clock,
    maxInFlight: () => options.max,
    stopping: () => false,
    runKey: (key) =>
      new Promise((resolve) => {
        assert.ok(!open.has(key), `key ${key} started twice`);
        assert.ok(open.size < options.max, 'more lanes than maxInFlight');
        started.push(key);
        open.set(key, () => {
          open.delete(key);
          resolve('next');
        });
      }),
    woken: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve())),
    onLaneError: () => undefined,
    pollIntervalMs: 1_000,
  };
  return { input, started, finish: (key) => open.get(key)?.(), inFlight: () => open.size, picks };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('up to maxInFlight keys at once, each once; resolves when none is due or in flight', async () => {
  let pending = ['a', 'b', 'c', 'd', 'e'];
  const h = harness(() => pending, { max: 3 });
  const done = runKeyLanes(h.input);
  await tick();
  assert.deepEqual(h.started, ['a', 'b', 'c']);
  pending = pending.filter((k) => k !== 'a');
  h.finish('a');
  await tick();
  await tick();
  assert.deepEqual(h.started, ['a', 'b', 'c', 'd']);
  pending = [];
  for (const key of ['b', 'c', 'd']) h.finish(key);
  assert.equal(await done, 'next');
});

test('reading the keys fails while lanes are in flight: the lanes end first, then the error', async () => {
  let pending = ['a', 'b'];
  const h = harness(() => pending, { max: 4, failReadAt: 2 });
  let settled = false;
  const done = runKeyLanes(h.input).finally(() => {
    settled = true;
  });
  done.catch(() => undefined);
  await tick();
  assert.deepEqual(h.started, ['a', 'b']);
  pending = ['b'];
  h.finish('a'); // the second read of the keys throws
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(settled, false, 'not given back while b is in flight');
  h.finish('b');
  await assert.rejects(done, /pool timeout/);
});

test('maxInFlight 1: the oldest key, one at a time', async () => {
  const h = harness(() => ['x', 'y'], { max: 1 });
  void runKeyLanes(h.input).catch(() => undefined);
  await tick();
  assert.deepEqual(h.started, ['x']);
  assert.deepEqual(h.picks, ['oldest']);
  assert.equal(h.inFlight(), 1);
});
