import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Attempt } from '../../src/models/log.ts';
import type { AttemptRecord, DeliveryLog, QueueRef } from '../../src/store/roles/queue-store.ts';
import type { NewMessage } from '../../src/store/roles/intake-store.ts';
import type { Store } from '../../src/store/store.ts';
import { catalog, message, NOW, type OpenStore } from './contract.ts';
import { medianTimer } from '../helpers/timing.ts';

/**
 * The store's side of ordering keys (SPEC 5.2), run against each store: keyed logs join their
 * key, ready keys come in due order leaving a blocked key out, a key's head moves on, the queue
 * view lists blocked keys, skip and retry act per key, and none of it reads a blocked key's backlog.
 */

const APP: QueueRef = { orgId: 'acme', destinationId: 'app' };

function keyed(key: string, extra: Partial<NewMessage> = {}): NewMessage {
  const m = message(['app'], extra);
  return { ...m, logs: m.logs.map((l) => ({ ...l, orderingKey: key })) };
}

async function accept(store: Store, m: NewMessage): Promise<string> {
  const result = await store.intake.acceptMessage(m);
  if (result.kind !== 'accepted') throw new Error('not accepted');
  return result.logs[0]!.id;
}

function record(
  owner: string,
  log: DeliveryLog,
  outcome: 'succeeded' | 'failed',
  options: { retryAt?: number | null; at?: number } = {},
): AttemptRecord {
  const at = options.at ?? NOW;
  const retry = outcome === 'failed' && options.retryAt !== null;
  const attempt: Attempt = {
    id: log.nextAttemptId,
    logId: log.id,
    number: log.attemptCount + 1,
    startedAt: at,
    durationMs: 3,
    requestUrl: 'http://127.0.0.1:9/app',
    statusCode: outcome === 'succeeded' ? 200 : 503,
    responseExcerpt: null,
    error: null,
    outcome,
  };
  return {
    owner,
    queue: APP,
    ...(log.orderingKey === undefined ? {} : { orderingKey: log.orderingKey }),
    attempt,
    log: {
      status: outcome === 'succeeded' ? 'succeeded' : retry ? 'pending' : 'failed',
      nextAttemptAt: retry ? (options.retryAt ?? at + 10_000) : null,
      nextAttemptId: retry ? randomUUID() : null,
      failedReason: outcome === 'failed' && !retry ? 'gave up' : null,
    },
    release: false,
    alert: null,
  };
}

/** The queue's ready keys as lease holder `W` sees them (taking the lease when it is free). */
async function keysOf(
  store: Store,
  queue: QueueRef,
  limit: number,
  exclude: string[],
): Promise<{ key: string; dueAt: number }[]> {
  await store.queues.claimQueues({
    owner: 'W',
    now: NOW + 1e9,
    leaseUntil: NOW + 2e9,
    limit: 100,
    exclude: [],
  });
  return store.queues.dueKeys(queue, 'W', { limit, exclude, order: 'due' });
}

/** The contract's catalog with destination `app` keyed, `maxInFlight` keys at once. */
function keyedCatalog(maxInFlight: number): ReturnType<typeof catalog> {
  const c = catalog();
  return {
    ...c,
    destinations: c.destinations.map((d) => (d.id === 'app' ? { ...d, orderingKey: '$.n', maxInFlight } : d)),
  };
}

const claimApp = async (store: Store, owner: string, now: number): Promise<boolean> =>
  (await store.queues.claimQueues({ owner, now, leaseUntil: now + 30_000, limit: 10, exclude: [] })).some(
    (q) => q.destinationId === 'app',
  );

export function orderingKeysContract(name: string, open: OpenStore): void {
  describe(`ordering keys in the store: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
      await store.catalog.syncCatalog(keyedCatalog(8));
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    test('keys in due order; a key head moves on; a failing key waits for its retry and is listed as blocked', async () => {
      const a1 = await accept(store, keyed('A', { receivedAt: NOW }));
      const b1 = await accept(store, keyed('B', { receivedAt: NOW + 1 }));
      const a2 = await accept(store, keyed('A', { receivedAt: NOW + 2 }));
      const c1 = await accept(store, keyed('', { receivedAt: NOW + 3 }));
      assert.deepEqual(
        (await keysOf(store, APP, 10, [])).map((k) => [k.key, k.dueAt]),
        [
          ['A', NOW],
          ['B', NOW + 1],
          ['', NOW + 3],
        ],
      );
      assert.deepEqual(
        (await keysOf(store, APP, 10, ['A', ''])).map((k) => k.key),
        ['B'],
        'keys in flight are left out',
      );
      assert.deepEqual(
        await store.queues.dueKeys(APP, 'someone else', { limit: 10, exclude: [], order: 'due' }),
        [],
        'only the lease holder reads keys',
      );
      assert.deepEqual(
        (await store.queues.dueKeys(APP, 'W', { limit: 1, exclude: [], order: 'oldest' })).map((k) => k.key),
        ['A'],
        'strict FIFO: the oldest key',
      );
      assert.deepEqual(await store.queues.headLogs(APP, 10), [], 'no unkeyed log');
      await claimApp(store, 'W', NOW + 5);
      const headA = await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]);
      assert.equal(headA?.id, a1);
      assert.equal(headA?.orderingKey, 'A');

      // A's head fails (production: retried in 10 s); B is delivered.
      await store.queues.recordAttempt(record('W', headA!, 'failed', { retryAt: NOW + 10_000, at: NOW + 6 }));
      const headB = await store.queues.keyHeadLogs(APP, 'B', 1).then((l) => l[0]);
      assert.equal((await store.queues.recordAttempt(record('W', headB!, 'succeeded'))).leaseHeld, true);
      assert.equal(await store.queues.keyHeadLogs(APP, 'B', 1).then((l) => l[0]), undefined, 'B is empty');
      assert.deepEqual(
        (await keysOf(store, APP, 10, [])).map((k) => [k.key, k.dueAt]),
        [
          ['', NOW + 3],
          ['A', NOW + 10_000],
        ],
      );
      const view = await store.operators.getQueue('acme', 'app', NOW + 100);
      assert.equal(view?.depth, 3);
      assert.equal(view?.state, 'blocked');
      assert.equal(view?.head?.id, a1, 'the oldest pending log');
      assert.equal(view?.blockedKeys.count, 1);
      assert.equal(view?.blockedKeys.oldestBlockedAt, NOW + 9);
      assert.equal(view?.blockedKeys.keys[0]?.key, 'A');
      assert.equal(view?.blockedKeys.keys[0]?.depth, 2);
      assert.equal(view?.blockedKeys.keys[0]?.head?.id, a1);
      assert.equal(view?.blockedKeys.keys[0]?.lastError?.statusCode, 503);
      const summary = (await store.operators.listQueues('acme')).find((q) => q.destinationId === 'app');
      assert.equal(summary?.blockedKeys, 1);
      assert.equal(summary?.oldestBlockedAt, NOW + 9);
      assert.equal(summary?.depth, 3);
      assert.equal(summary?.oldestQueuedAt, NOW);

      // The key '' is delivered; A's retry succeeds; A's next log is its head, due at once.
      const headEmpty = await store.queues.keyHeadLogs(APP, '', 1).then((l) => l[0]);
      assert.equal(headEmpty?.id, c1);
      await store.queues.recordAttempt(record('W', headEmpty!, 'succeeded'));
      const retrying = await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]);
      assert.equal(retrying?.attemptCount, 1);
      await store.queues.recordAttempt(record('W', retrying!, 'succeeded', { at: NOW + 10_000 }));
      assert.equal((await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]))?.id, a2);
      assert.deepEqual(
        (await keysOf(store, APP, 10, [])).map((k) => [k.key, k.dueAt]),
        [['A', NOW + 2]],
      );
      const after = await store.operators.getQueue('acme', 'app', NOW + 10_001);
      assert.equal(after?.state, 'active');
      assert.equal(after?.blockedKeys.count, 0);
      assert.equal(after?.depth, 1);
      assert.equal(b1.length > 0, true);
    });

    test('claims and nextDueAt see keyed queues: a blocked key makes the queue due at its retry only', async () => {
      await accept(store, keyed('A'));
      assert.equal(await claimApp(store, 'W', NOW), true);
      const head = await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]);
      await store.queues.recordAttempt(record('W', head!, 'failed', { retryAt: NOW + 10_000 }));
      await store.queues.releaseQueue('W', APP);
      assert.equal(await store.queues.nextDueAt('nobody'), NOW + 10_000);
      assert.equal(await claimApp(store, 'W', NOW + 9_999), false, 'not due before its retry');
      await accept(store, keyed('B', { receivedAt: NOW + 50 }));
      assert.equal(await store.queues.nextDueAt('nobody'), NOW + 50, 'another key is due first');
      // With maxInFlight 1 (strict FIFO) the queue waits behind its oldest log.
      await store.catalog.syncCatalog(keyedCatalog(1));
      assert.equal(await store.queues.nextDueAt('nobody'), NOW + 10_000, 'strict: behind the oldest log');
      assert.equal(await claimApp(store, 'W', NOW + 100), false);
      await store.catalog.syncCatalog(keyedCatalog(8));
      assert.equal(await claimApp(store, 'W', NOW + 100), true);
    });

    test('skip with a key: the head of a blocked key without a pause; an unblocked key needs a pause', async () => {
      const a1 = await accept(store, keyed('A'));
      const a2 = await accept(store, keyed('A'));
      await accept(store, keyed('B'));
      const by = { by: 'ops', reason: 'bad message', at: NOW + 1 };
      assert.deepEqual(await store.operators.skipHead('acme', 'app', by, 'B'), { error: 'not_paused' });
      assert.deepEqual(await store.operators.skipHead('acme', 'app', by, 'Z'), { error: 'not_paused' });
      await claimApp(store, 'W', NOW);
      await store.queues.recordAttempt(
        record('W', (await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]))!, 'failed'),
      );
      const skipped = await store.operators.skipHead('acme', 'app', by, 'A');
      assert.ok('skipped' in skipped);
      assert.equal(skipped.skipped.id, a1);
      assert.equal(skipped.skipped.status, 'failed');
      assert.match(skipped.skipped.failedReason ?? '', /Skipped by ops: bad message/);
      assert.equal((await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]))?.id, a2);
      const view = await store.operators.getQueue('acme', 'app', NOW + 2);
      assert.equal(view?.blockedKeys.count, 0);
      assert.equal(view?.depth, 2);
      // Paused: any key's head may be skipped; an empty key has nothing to skip.
      await store.operators.setQueuePaused('acme', 'app', by);
      assert.deepEqual(
        await store.queues.dueKeys(APP, 'W', { limit: 10, exclude: [], order: 'due' }),
        [],
        'a paused queue starts no key',
      );
      assert.ok('skipped' in (await store.operators.skipHead('acme', 'app', by, 'B')));
      assert.deepEqual(await store.operators.skipHead('acme', 'app', by, 'B'), { error: 'empty' });
      assert.equal((await store.operators.getQueue('acme', 'app', NOW + 2))?.depth, 1);
      // The late record of an attempt in flight on a skipped log leaves it failed and the counts alone.
      await store.operators.setQueuePaused('acme', 'app', null);
      const head = (await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]))!;
      await store.operators.setQueuePaused('acme', 'app', by);
      await store.operators.skipHead('acme', 'app', by, 'A');
      await store.queues.recordAttempt(record('W', head, 'succeeded'));
      assert.equal((await store.operators.getLog('acme', head.id, NOW))?.log.status, 'failed');
      assert.equal((await store.operators.getQueue('acme', 'app', NOW + 2))?.depth, 0);
      assert.deepEqual(await keysOf(store, APP, 10, []), []);
    });

    test('a retried keyed log joins the back of its key; a forced destination delete empties the keys', async () => {
      const a1 = await accept(store, keyed('A'));
      await claimApp(store, 'W', NOW);
      await store.queues.recordAttempt(
        record('W', (await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]))!, 'succeeded'),
      );
      const copy = await store.operators.retryLog(
        'acme',
        a1,
        { id: randomUUID(), firstAttemptId: randomUUID() },
        NOW + 5,
      );
      assert.equal(copy?.orderingKey, 'A');
      assert.equal((await store.queues.keyHeadLogs(APP, 'A', 1).then((l) => l[0]))?.id, copy?.id);
      assert.deepEqual(
        (await keysOf(store, APP, 10, [])).map((k) => [k.key, k.dueAt]),
        [['A', NOW + 5]],
      );
      // A destination made through the API (the file's own cannot be deleted so).
      const audit = {
        orgId: 'acme',
        at: NOW + 6,
        actor: 'admin',
        resource: 'destination',
        resourceId: 'api',
        changes: {},
      };
      const destination = {
        orgId: 'acme',
        id: 'api',
        name: 'API',
        environment: 'production' as const,
        url: 'http://127.0.0.1:9/api',
      };
      assert.ok(
        (
          await store.catalog.changeCatalog({
            ops: [{ kind: 'create', entity: 'destination', value: destination }],
            audit: { ...audit, action: 'create' },
          })
        ).ok,
      );
      const api: QueueRef = { orgId: 'acme', destinationId: 'api' };
      const m = keyed('B');
      await accept(store, { ...m, logs: m.logs.map((l) => ({ ...l, destinationId: 'api' })) });
      assert.equal((await keysOf(store, api, 10, [])).length, 1);
      const changed = await store.catalog.changeCatalog({
        ops: [{ kind: 'delete', entity: 'destination', orgId: 'acme', id: 'api', forceReason: 'gone' }],
        audit: { ...audit, action: 'delete' },
      });
      assert.ok(changed.ok, JSON.stringify(changed));
      assert.deepEqual(await keysOf(store, api, 10, []), []);
      await store.queues.releaseQueue('W', APP);
      assert.equal(await store.queues.nextDueAt('nobody'), NOW + 5, "only app's key is left");
    });

    test('10,000 logs behind one blocked key: ready keys, heads, claims and records stay index lookups', async () => {
      const BLOCKED = 10_000;
      for (let i = 0; i < BLOCKED; i += 500)
        await Promise.all(
          Array.from({ length: 500 }, (_, j) => accept(store, keyed('stuck', { receivedAt: NOW + i + j }))),
        );
      await claimApp(store, 'W', NOW + BLOCKED);
      const stuck = (await store.queues.keyHeadLogs(APP, 'stuck', 1).then((l) => l[0]))!;
      await store.queues.recordAttempt(record('W', stuck, 'failed', { retryAt: NOW + 10 ** 9 }));
      for (let i = 0; i < 200; i++) await accept(store, keyed(`p${i}`, { receivedAt: NOW + BLOCKED + i }));
      const { timings, timed } = medianTimer();
      const due = await timed('dueKeys', () => keysOf(store, APP, 65, ['p0', 'p1']));
      assert.equal(due.length, 65);
      assert.ok(due.every((k) => k.key !== 'stuck'));
      await timed('keyHeadLog', () => store.queues.keyHeadLogs(APP, 'p5', 1).then((l) => l[0]));
      await timed('nextDueAt', () => store.queues.nextDueAt('nobody'));
      await timed('getQueue', () => store.operators.getQueue('acme', 'app', NOW));
      await timed('listQueues', () => store.operators.listQueues('acme'));
      for (let i = 0; i < 5; i++) {
        const head = (await store.queues.keyHeadLogs(APP, `p${i}`, 1).then((l) => l[0]))!;
        const started = performance.now();
        await store.queues.recordAttempt(record('W', head, 'succeeded'));
        timings[`recordAttempt p${i}`] = performance.now() - started;
      }
      const view = await store.operators.getQueue('acme', 'app', NOW);
      assert.equal(view?.depth, BLOCKED + 195);
      assert.equal(view?.blockedKeys.keys[0]?.depth, BLOCKED);
      if (process.env.SHOW_TIMINGS) console.log(timings);
      for (const [label, ms] of Object.entries(timings))
        assert.ok(ms < 25, `${label} took ${ms.toFixed(1)} ms`);
    });

    test('unkeyed logs queued before a destination got its key keep strict order; keyed ones after them flow', async () => {
      const old1 = await accept(store, message(['app']));
      const old2 = await accept(store, message(['app']));
      await accept(store, keyed('A'));
      assert.deepEqual(
        (await store.queues.headLogs(APP, 10)).map((l) => l.id),
        [old1, old2],
      );
      assert.deepEqual(
        (await keysOf(store, APP, 10, [])).map((k) => k.key),
        ['A'],
      );
      assert.equal((await store.operators.getQueue('acme', 'app', NOW))?.head?.id, old1);
      await claimApp(store, 'W', NOW);
      for (const head of await store.queues.headLogs(APP, 10))
        await store.queues.recordAttempt(record('W', head, 'succeeded'));
      assert.deepEqual(await store.queues.headLogs(APP, 10), []);
      // A key removed again: new unkeyed logs start a strict queue of their own.
      const new1 = await accept(store, message(['app']));
      assert.deepEqual(
        (await store.queues.headLogs(APP, 10)).map((l) => l.id),
        [new1],
      );
      assert.equal((await store.operators.getQueue('acme', 'app', NOW))?.depth, 2);
    });
  });
}
