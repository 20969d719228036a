// Ordering keys (SPEC 5.2): throughput against receivers 20 ms away (the local receiver waits
// 20 ms before answering), per-key order checked by the receiver. In one run:
// 1. one destination, 10,000 messages over 1,000 patients: strict FIFO (no orderingKey; timed on
//    a smaller sample, since it delivers under 50/s) against `orderingKey` with `maxInFlight` 64;
// 2. the same keyed run with one more patient whose every message the receiver refuses: the
//    other patients' rate against run 1's;
// 3. PostgreSQL, 20,000 messages over 100 destinations each keyed over 50 patients, maxInFlight
//    8, fast receivers, against pg-boss `standard` (no order at all) on the same server.
// Messages are accepted first (delivery off); then a fresh process delivers them while the
// receiver times first to last delivery. Run alone: node bench/ordering-keys.ts
// (BENCH_KEY_MESSAGES, default 10000; BENCH_PG_JOBS, default 20000; BENCH_KEYS=far or pg: one part)
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { createTestDatabase } from '../test/helpers/pg-database.ts';
import {
  cpuSeconds,
  fmt,
  freePort,
  payload,
  pool,
  spawnNode,
  startSwitchboard,
  stop,
  tempDir,
  token,
  waitHttp,
  writeConfig,
  type BenchDestination,
} from './lib.ts';
import { runPgBoss } from './postgres.ts';

const MESSAGES = Number(process.env.BENCH_KEY_MESSAGES ?? 10_000);
const PATIENTS = 1_000;
const STRICT_MESSAGES = 400;
const PG_JOBS = Number(process.env.BENCH_PG_JOBS ?? 20_000);
const FAIL_PATIENT = 999_999;
const KEY = '$.Patient.Identifiers[0].ID';

interface KeyStats {
  total: number;
  failed: number;
  violations: number;
  repeats: number;
  firstAt: number;
  lastAt: number;
  maxInFlight: number;
}

const EMPTY: KeyStats = {
  total: 0,
  failed: 0,
  violations: 0,
  repeats: 0,
  firstAt: 0,
  lastAt: 0,
  maxInFlight: 0,
};

interface KeyRun {
  name: string;
  delivered: number;
  perSecond: number;
  stats: KeyStats;
  /** CPU per delivery of the delivering Switchboard process, and of PostgreSQL's, in µs. */
  cpuMicros?: number;
  pgCpuMicros?: number;
}

/** CPU seconds of every PostgreSQL server process (a database's work is spread over them). */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) continue;
    } catch {
      continue;
    }
    const seconds = cpuSeconds(Number(pid));
    if (Number.isFinite(seconds)) total += seconds;
  }
  return total;
}

async function stats(base: string): Promise<KeyStats> {
  return (await (await fetch(`${base}/stats`)).json()) as KeyStats;
}

/** Accepts `messages` (patient of message n: `patientOf(n)`), then delivers them in a fresh process. */
async function run(
  name: string,
  receiverBase: string,
  destinations: BenchDestination[],
  messages: number,
  patientOf: (n: number) => number,
  expected: number,
  env: Record<string, string> = {},
): Promise<KeyRun> {
  const dir = tempDir('keys');
  let running: ChildProcess | undefined;
  try {
    await fetch(`${receiverBase}/reset`, { method: 'POST' });
    const accepting = await startSwitchboard(
      writeConfig(dir.path, destinations, { delivery: { enabled: false } }),
      env,
    );
    running = accepting.child;
    const auth = `Bearer ${await token(accepting.url)}`;
    const agent = new Agent({ connections: 64 });
    await pool(64, messages, async (n) => {
      const res = await request(`${accepting.url}/endpoint`, {
        method: 'POST',
        body: payload(patientOf(n), 512, destinations[n % destinations.length]!.id),
        headers: { 'content-type': 'application/json', authorization: auth },
        dispatcher: agent,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`accept: ${res.statusCode}`);
    });
    await agent.close();
    await stop(accepting.child);
    const pgBefore = postgresCpuSeconds();
    const delivering = await startSwitchboard(writeConfig(dir.path, destinations), env);
    running = delivering.child;
    const cpuBefore = cpuSeconds(delivering.child.pid);
    const deadline = Date.now() + 600_000;
    let seen = await stats(receiverBase);
    while (seen.total < expected && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = await stats(receiverBase);
    }
    const cpu = cpuSeconds(delivering.child.pid) - cpuBefore;
    const pgCpu = postgresCpuSeconds() - pgBefore;
    return {
      name,
      delivered: seen.total,
      perSecond: seen.total / Math.max(0.001, (seen.lastAt - seen.firstAt) / 1000),
      stats: seen,
      cpuMicros: (cpu / seen.total) * 1e6,
      ...(env.DATABASE_URL ? { pgCpuMicros: (pgCpu / seen.total) * 1e6 } : {}),
    };
  } finally {
    if (running) await stop(running);
    dir.remove();
  }
}

async function receivers(env: Record<string, string>): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawnNode(['bench/key-receivers.ts'], { PORT: String(port), ...env });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/stats`);
  return { base, child };
}

export interface OrderingKeyResults {
  runs: KeyRun[];
}

export async function runOrderingKeys(): Promise<OrderingKeyResults> {
  const parts = (process.env.BENCH_KEYS ?? 'far,pg').split(',');
  const runs: KeyRun[] = [];
  if (parts.includes('far')) runs.push(...(await runFar()));
  if (parts.includes('pg')) runs.push(...(await runPostgresKeys()));
  return { runs };
}

/** Runs 1 and 2: one destination 20 ms away, strict, keyed, keyed with a failing patient. */
async function runFar(): Promise<KeyRun[]> {
  const runs: KeyRun[] = [];
  const far = await receivers({ DELAY_MS: '20', FAIL_KEY: `MRN-${FAIL_PATIENT}` });
  try {
    const one = (extra: Partial<BenchDestination>): BenchDestination[] => [
      { id: 'ehr', url: `${far.base}/ehr`, ...extra },
    ];
    const patient = (n: number): number => n % PATIENTS;
    runs.push(
      await run('strict FIFO (no key)', far.base, one({}), STRICT_MESSAGES, patient, STRICT_MESSAGES),
    );
    runs.push(
      await run(
        'orderingKey, maxInFlight 64',
        far.base,
        one({ orderingKey: KEY, maxInFlight: 64 }),
        MESSAGES,
        patient,
        MESSAGES,
      ),
    );
    // One message in 100 is for the failing patient, whose every attempt is refused.
    runs.push(
      await run(
        'same + one failing patient',
        far.base,
        one({ orderingKey: KEY, maxInFlight: 64 }),
        MESSAGES + MESSAGES / 100,
        (n) => (n % 101 === 100 ? FAIL_PATIENT : patient(n)),
        MESSAGES,
      ),
    );
  } finally {
    await stop(far.child);
  }
  return runs;
}

/** Run 3: PostgreSQL, 100 keyed destinations, then pg-boss `standard` on the same server. */
async function runPostgresKeys(): Promise<KeyRun[]> {
  const runs: KeyRun[] = [];
  const fast = await receivers({});
  try {
    const database = await createTestDatabase('bench_keys');
    try {
      const destinations = Array.from({ length: 100 }, (_, i) => ({
        id: `d${i}`,
        url: `${fast.base}/d${i}`,
        orderingKey: KEY,
        maxInFlight: 8,
      }));
      runs.push(
        await run(
          'PostgreSQL, 100 keyed destinations',
          fast.base,
          destinations,
          PG_JOBS,
          // Destination n % 100; its patient (n / 100) % 50, so each destination has 50 keys.
          (n) => Math.floor(n / 100) % 50,
          PG_JOBS,
          { DATABASE_URL: database.url },
        ),
      );
    } finally {
      await database.drop();
    }
  } finally {
    await stop(fast.child);
  }
  const boss = await receivers({});
  try {
    const r = await runPgBoss('standard', boss.base);
    runs.push({
      name: r.name,
      delivered: r.stats.total,
      perSecond: r.steadyPerSecond,
      stats: { ...r.stats, failed: 0, maxInFlight: 0 },
    });
  } finally {
    await stop(boss.child);
  }
  return runs;
}

export function printOrderingKeys({ runs }: OrderingKeyResults): void {
  const by = (prefix: string): KeyRun =>
    runs.find((r) => r.name.startsWith(prefix)) ?? {
      name: prefix,
      delivered: 0,
      perSecond: NaN,
      stats: EMPTY,
    };
  console.log(
    `\nOrdering keys: receiver 20 ms away, ${fmt(MESSAGES)} messages over ${fmt(PATIENTS)} patients`,
  );
  console.log(
    'run                                   delivered   deliveries/s   order violations   max in flight   CPU µs/delivery (Switchboard, PostgreSQL)',
  );
  const micros = (n: number | undefined): string => (n === undefined ? '—' : fmt(n));
  for (const r of runs)
    console.log(
      `${r.name.padEnd(37)} ${fmt(r.delivered).padStart(9)}   ${fmt(r.perSecond).padStart(12)}   ${String(r.stats.violations).padStart(16)}   ${String(r.stats.maxInFlight).padStart(13)}   ${micros(r.cpuMicros)}, ${micros(r.pgCpuMicros)}`,
    );
  const strict = by('strict');
  const keyed = by('orderingKey');
  const failing = by('same +');
  const pg = by('PostgreSQL');
  const boss = by('pg-boss');
  const ratio = keyed.perSecond / strict.perSecond;
  console.log(
    `keys vs strict: ${ratio.toFixed(1)}x   (target >= 1,500/s and >= 30x: ${keyed.perSecond >= 1_500 && ratio >= 30 ? 'met' : 'NOT met'})`,
  );
  const kept = failing.perSecond / keyed.perSecond;
  console.log(
    `with one failing patient: the others at ${(kept * 100).toFixed(1)}% of the run without it (target >= 95%: ${kept >= 0.95 ? 'met' : 'NOT met'}); ${fmt(failing.stats.failed)} refused attempts`,
  );
  console.log(
    `PostgreSQL keyed vs pg-boss standard (unordered): ${(pg.perSecond / boss.perSecond).toFixed(2)}x   (target >= 1x: ${pg.perSecond >= boss.perSecond ? 'met' : 'NOT met'})`,
  );
}

if (import.meta.main) {
  printOrderingKeys(await runOrderingKeys());
  process.exit(0);
}
