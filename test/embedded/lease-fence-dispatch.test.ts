import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Catalog } from '../../src/catalog/catalog.ts';
import { syncConfiguredCatalog } from '../../src/catalog/sync.ts';
import { Dispatcher } from '../../src/delivery/dispatcher.ts';
import { Outbound } from '../../src/delivery/outbound.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import type { QueueStore } from '../../src/store/roles/queue-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { harnessConfig, patientAdmin } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The lease deadline in the dispatcher (delivery/lease-fence.ts), with a real store and a real
 * receiver: a runner that stalls past its lease between reading its logs and sending one sends
 * nothing (the next holder delivers it); a runner whose renewal fails sends nothing more.
 * A stall is the event loop blocked longer than the lease, as a frozen process would be.
 */

const LEASE_MS = 1_000;

async function setup(
  t: { after: (fn: () => Promise<void> | void) => void },
  wrap: (q: QueueStore) => QueueStore,
  delayMs = 0,
) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-fence-'));
  const receiver = delayMs > 0 ? await SlowReceiver.start(() => delayMs) : await Receiver.start();
  const config = harnessConfig(
    { destinations: [{ id: 'app', url: receiver.url }], delivery: { leaseMs: LEASE_MS, pollIntervalMs: 50 } },
    { dataDir: dir, databaseUrl: undefined },
  );
  const store = new SqliteStore(join(dir, 'switchboard.db'));
  await store.migrate();
  await syncConfiguredCatalog(store.catalog, config);
  const catalog = new Catalog(await store.catalog.loadCatalog());
  const outbound = new Outbound({ excerptBytes: 1_000 });
  const dispatcher = new Dispatcher({
    queues: wrap(store.queues),
    catalog,
    clock: systemClock,
    settings: config.delivery,
    logger: createLogger('silent'),
    outbound,
  });
  t.after(async () => {
    await dispatcher.stop();
    await store.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  });
  const accept = async (n: number): Promise<string> => {
    const id = crypto.randomUUID();
    const result = await store.intake.acceptMessage({
      orgId: 'acme',
      sourceId: 'ehr',
      type: 'send',
      dataModel: 'PatientAdmin',
      eventType: 'NewPatient',
      test: false,
      payload: JSON.stringify(patientAdmin(n)),
      searchKeys: [],
      receivedAt: Date.now(),
      logs: [{ id, destinationId: 'app', status: 'pending', firstAttemptId: crypto.randomUUID() }],
    });
    assert.equal(result.kind, 'accepted');
    return id;
  };
  return { dispatcher, receiver, accept, store };
}

const stall = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until); // the whole process frozen
};

test('a runner stalled past its lease after reading its logs sends none of them; they are delivered after, in order', async (t) => {
  let stalls = 0;
  const { dispatcher, receiver, accept } = await setup(t, (queues) => ({
    ...bind(queues),
    headLogs: async (queue, limit) => {
      const logs = await queues.headLogs(queue, limit);
      if (logs.length > 0 && stalls++ === 0) stall(LEASE_MS * 1.2);
      return logs;
    },
  }));
  const ids = [await accept(1), await accept(2), await accept(3)];
  dispatcher.start();
  await waitFor(() => receiver.logIds().length === 3, 10_000, 'all three delivered');
  assert.equal(stalls >= 2, true, 'a second runner took the queue');
  assert.deepEqual(receiver.logIds(), ids, 'in order, each once: the stalled runner sent nothing');
  assert.equal(receiver.received.length, 3);
});

test('a failed renewal stops the runner before its next send', async (t) => {
  let down = false;
  let renewalsFailed = 0;
  const { dispatcher, receiver, accept } = await setup(
    t,
    (queues) => ({
      ...bind(queues),
      // The database goes away: renewals fail, and so do claims (no other runner starts).
      renewLeases: async (owner, refs, until) => {
        if (down) {
          renewalsFailed++;
          throw new Error('connection refused');
        }
        return queues.renewLeases(owner, refs, until);
      },
      claimQueues: async (claim) => {
        if (down) throw new Error('connection refused');
        return queues.claimQueues(claim);
      },
    }),
    150,
  );
  for (let i = 0; i < 20; i++) await accept(i);
  dispatcher.start();
  await waitFor(() => receiver.received.length === 1, 5_000, 'the first delivery');
  down = true;
  await waitFor(() => renewalsFailed > 0, 5_000, 'a renewal failed');
  const atFailure = receiver.received.length;
  await waitFor(() => dispatcher.activeQueues === 0, 5_000, 'the runner stopped');
  assert.ok(receiver.received.length <= atFailure + 1, 'at most the attempt in flight went on');
  assert.ok(receiver.received.length < 20);
});

/** The store's methods, bound, so a test can replace some. */
function bind(queues: QueueStore): QueueStore {
  const bound = {} as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(queues)))
    if (name !== 'constructor')
      bound[name] = (queues as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.bind(queues);
  return bound as unknown as QueueStore;
}
