import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { frozenInstance } from '../../chaos/stall.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/pg-database.ts';

/**
 * The stall of issue 15, bounded (`npm run chaos` runs it 3 times longer): two instances on one
 * PostgreSQL database with 3 s leases; the one delivering a backlog is frozen with SIGSTOP for
 * 7 s, past its lease, so the other takes its queues over, and then resumed. Its fence (a
 * monotonic deadline) must stop it sending what it held before the freeze: no destination may
 * get a log after a later one, and every acknowledged message is delivered. Before the fence,
 * the resumed instance sent its stale attempts after the other's later logs.
 */

let database: TestDatabase | undefined;

after(async () => {
  await database?.drop();
});

test(
  'an instance frozen past its lease while delivering: no order violation, nothing lost',
  { timeout: 90_000 },
  async (t) => {
    database = await createTestDatabase('stall');
    const started = performance.now();
    // 20 ms away, 10 destinations: at most ~500 deliveries a second, so the 3,000-message
    // backlog is still being delivered when the freeze comes, and past the lease.
    const result = await frozenInstance({
      databaseUrl: database.url,
      rounds: 1,
      destinations: 10,
      backlog: 3_000,
      delayMs: 20,
      // Within the test's time limit, so a loss is reported as one rather than as a timeout.
      drainMs: 40_000,
    });
    t.diagnostic(
      `${result.acknowledged} acknowledged, ${result.delivered} delivered (${result.duplicates} redelivered), ` +
        `at the freeze ${result.atFreeze[0]?.backlog} undelivered and ${result.atFreeze[0]?.inFlight} in flight, ` +
        `${result.duringFreeze[0]} arrivals during it; answers ${result.statuses}; ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    // The fault happened as meant: frozen with work held, and the other instance took it over.
    assert.ok((result.atFreeze[0]?.backlog ?? 0) > 0, 'frozen while a backlog was undelivered');
    assert.ok((result.duringFreeze[0] ?? 0) > 0, 'the other instance delivered during the freeze');
    assert.equal(result.violations, 0, 'arrivals after a later log of their destination');
    assert.deepEqual(result.lost, [], 'acknowledged messages never delivered');
    assert.deepEqual(result.mismatched, [], 'arrivals that are not the message acknowledged');
  },
);
