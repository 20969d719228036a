// Scale-out on PostgreSQL: accept and delivery throughput with 1 and with 3 Switchboard instances
// on one database, against pg-boss doing the same work on the same server in the same run:
// enqueue 20,000 jobs over 100 keys, process each with one fast local HTTP call. pg-boss runs
// twice: its `standard` queue (no order between jobs) and its `key_strict_fifo` queue (FIFO per
// key, the promise Switchboard makes per destination). The receivers count order violations for
// every run. Run alone: node bench/postgres.ts   (BENCH_PG_JOBS, default 20000)
//
// Each pg-boss queue runs with the worker settings that delivered fastest in a sweep on this
// machine (2026-11-30, 20,000 jobs; batchSize x localConcurrency -> delivered/s): `standard`
// 100x10 2.1k, 100x50 9.1k, 200x50 10.8k, 500x20 12.4k, 1000x10 13.4k; `key_strict_fifo`
// 100x1 203, 100x4 302, 100x10 338, 100x50 55, 1000x10 255. `standard` is bound by the jobs it
// has in flight (batchSize x localConcurrency, a poll apart), so it is given thousands; a
// baseline throttled by its settings would flatter Switchboard.
const PG_BOSS_WORKERS = {
  standard: { batchSize: 500, localConcurrency: 20 },
  key_strict_fifo: { batchSize: 100, localConcurrency: 10 },
} as const;
import type { ChildProcess } from 'node:child_process';
import { PgBoss } from 'pg-boss';
import { Agent, request } from 'undici';
import { createTestDatabase } from '../test/helpers/pg-database.ts';
import {
  fmt,
  freePort,
  payload,
  spawnNode,
  startSwitchboard,
  stop,
  tempDir,
  token,
  waitHttp,
  writeConfig,
  pool,
  waitDelivered,
  type ReceiverStats,
} from './lib.ts';
import { PREVIOUS } from './previous.ts';

const JOBS = Number(process.env.BENCH_PG_JOBS ?? 20_000);
const KEYS = 100;
const CLIENTS = 64;

interface Run {
  name: string;
  enqueuePerSecond: number;
  /** From the workers' start (process start for Switchboard) to the last delivery. */
  deliveredPerSecond: number;
  /** From the first delivery to the last: the steady rate, start-up and polling delay left out. */
  steadyPerSecond: number;
  stats: ReceiverStats;
}

const steady = (seen: ReceiverStats): number =>
  seen.total / Math.max(0.001, (seen.lastAt - seen.firstAt) / 1000);

export async function runSwitchboard(instances: number, receiverBase: string): Promise<Run> {
  const database = await createTestDatabase('bench');
  const dir = tempDir('pg');
  const destinations = Array.from({ length: KEYS }, (_, i) => ({
    id: `d${i}`,
    url: `${receiverBase}/d${i}`,
  }));
  const env = { DATABASE_URL: database.url };
  let running: ChildProcess[] = [];
  try {
    await fetch(`${receiverBase}/reset`, { method: 'POST' });
    // 1. Accept through every instance (delivery off), round robin, 64 clients.
    const acceptConfig = writeConfig(dir.path, destinations, { delivery: { enabled: false } });
    const accepting: { child: ChildProcess; url: string }[] = [];
    for (let i = 0; i < instances; i++) accepting.push(await startSwitchboard(acceptConfig, env));
    running = accepting.map((a) => a.child);
    const auth = `Bearer ${await token(accepting[0]!.url)}`;
    const agent = new Agent({ connections: CLIENTS });
    const bodies = destinations.map((d, i) => payload(i, 1024, d.id));
    const acceptStart = performance.now();
    await pool(CLIENTS, JOBS, async (n) => {
      const res = await request(`${accepting[n % instances]!.url}/endpoint`, {
        method: 'POST',
        body: bodies[n % KEYS],
        headers: { 'content-type': 'application/json', authorization: auth },
        dispatcher: agent,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`accept: ${res.statusCode}`);
    });
    const acceptSeconds = (performance.now() - acceptStart) / 1000;
    await agent.close();
    await Promise.all(running.map((child) => stop(child)));

    // 2. Fresh delivering instances; the clock runs from their start to the last delivery.
    const deliverConfig = writeConfig(dir.path, destinations);
    const deliverStart = performance.now();
    const delivering = await Promise.all(
      Array.from({ length: instances }, () => startSwitchboard(deliverConfig, env)),
    );
    running = delivering.map((d) => d.child);
    const seen = await waitDelivered(receiverBase, JOBS);
    const deliverSeconds = (performance.now() - deliverStart) / 1000;
    return {
      name: `Switchboard, ${instances} instance${instances > 1 ? 's' : ''}`,
      enqueuePerSecond: JOBS / acceptSeconds,
      deliveredPerSecond: seen.total / deliverSeconds,
      steadyPerSecond: steady(seen),
      stats: seen,
    };
  } finally {
    await Promise.all(running.map((child) => stop(child)));
    dir.remove();
    await database.drop();
  }
}

/** The queue a team would otherwise build this on: jobs in pg-boss, workers making the HTTP call. */
export async function runPgBoss(policy: 'standard' | 'key_strict_fifo', receiverBase: string): Promise<Run> {
  const database = await createTestDatabase('bench');
  const boss = new PgBoss({ connectionString: database.url, max: 20 });
  boss.on('error', (error: Error) => console.error(`pg-boss: ${error.message}`));
  const agent = new Agent({ connections: KEYS });
  try {
    await fetch(`${receiverBase}/reset`, { method: 'POST' });
    await boss.start();
    await boss.createQueue('deliver', { policy });
    const body = payload(0, 1024);
    // 1. Enqueue one durable job per call, 64 callers, as the accept path does.
    const sequence = new Array<number>(KEYS).fill(0);
    const enqueueStart = performance.now();
    await pool(CLIENTS, JOBS, async (n) => {
      const key = n % KEYS;
      const seq = ++sequence[key]!;
      await boss.send('deliver', { key, seq }, { singletonKey: `d${key}` });
    });
    const enqueueSeconds = (performance.now() - enqueueStart) / 1000;

    // 2. Workers: each job is one POST to its key's receiver, carrying its per-key sequence.
    const deliverStart = performance.now();
    await boss.work<{ key: number; seq: number }>(
      'deliver',
      { ...PG_BOSS_WORKERS[policy], pollingIntervalSeconds: 0.5 },
      async (jobs) => {
        await Promise.all(
          jobs.map(async (job) => {
            const res = await request(`${receiverBase}/d${job.data.key}`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json', 'x-switchboard-sequence': String(job.data.seq) },
              dispatcher: agent,
            });
            await res.body.text();
            if (res.statusCode !== 200) throw new Error(`receiver: ${res.statusCode}`);
          }),
        );
      },
    );
    const seen = await waitDelivered(receiverBase, JOBS);
    const deliverSeconds = (performance.now() - deliverStart) / 1000;
    return {
      name: `pg-boss ${policy}`,
      enqueuePerSecond: JOBS / enqueueSeconds,
      deliveredPerSecond: seen.total / deliverSeconds,
      steadyPerSecond: steady(seen),
      stats: seen,
    };
  } finally {
    await boss.stop({ graceful: false }).catch(() => undefined);
    await agent.close();
    await database.drop();
  }
}

export async function runPostgres(): Promise<Run[]> {
  const receiverPort = await freePort();
  const receivers = spawnNode(['bench/receivers.ts'], { PORT: String(receiverPort) });
  const receiverBase = `http://127.0.0.1:${receiverPort}`;
  try {
    await waitHttp(`${receiverBase}/stats`);
    return [
      await runSwitchboard(1, receiverBase),
      await runSwitchboard(3, receiverBase),
      await runPgBoss('standard', receiverBase),
      await runPgBoss('key_strict_fifo', receiverBase),
    ];
  } finally {
    await stop(receivers);
  }
}

export function printPostgres(runs: Run[]): void {
  console.log(
    `\nPostgreSQL: ${fmt(JOBS)} messages/jobs over ${KEYS} destinations/keys, fast local receivers`,
  );
  console.log(
    'run                              enqueue/s   delivered/s (start to last, first to last)   order violations',
  );
  for (const r of runs)
    console.log(
      `${r.name.padEnd(32)} ${fmt(r.enqueuePerSecond).padStart(9)}   ${fmt(r.deliveredPerSecond).padStart(11)} ${fmt(r.steadyPerSecond).padStart(15)}                  ${String(r.stats.violations).padStart(6)}`,
    );
  const switchboard = runs.filter((r) => r.name.startsWith('Switchboard'));
  const best = Math.max(...switchboard.map((r) => r.steadyPerSecond));
  const bestOverall = Math.max(...switchboard.map((r) => r.deliveredPerSecond));
  const bestAccept = Math.max(...switchboard.map((r) => r.enqueuePerSecond));
  for (const r of runs.filter((x) => x.name.startsWith('pg-boss')))
    console.log(
      `Switchboard (best) accept / ${r.name} send: ${(bestAccept / r.enqueuePerSecond).toFixed(2)}x (both durable, 64 callers)`,
    );
  for (const r of runs.filter((x) => x.name.startsWith('pg-boss')))
    console.log(
      `Switchboard (best) / ${r.name}: ${(best / r.steadyPerSecond).toFixed(2)}x delivered/s first to last, ` +
        `${(bestOverall / r.deliveredPerSecond).toFixed(2)}x start to last ` +
        `(target >= 2x: ${best >= 2 * r.steadyPerSecond && bestOverall >= 2 * r.deliveredPerSecond ? 'met' : 'NOT met'})`,
    );
  console.log(
    `before the store rework (${PREVIOUS.date}): 1 instance ${fmt(PREVIOUS.postgres.acceptedPerSecond)} accepted/s, ` +
      `${fmt(PREVIOUS.postgres.deliveredPerSecond)} delivered/s start to last`,
  );
}

if (import.meta.main) printPostgres(await runPostgres());
