// One destination's backlog: 100,000 messages queued for a single destination (accepted with
// delivery off), then a fresh process delivers them, strictly one at a time and in order, each
// attempt's record committed before the next log goes out. Timed at the receiver from its first
// delivery to its last; it checks the order. Baseline in the same run: the same POSTs sent
// straight to the same receiver by one sequential worker (the ceiling of a strictly sequential
// destination, with no store at all). Both stores.
// Run alone: node bench/backlog.ts   (BENCH_BACKLOG, default 100000; BENCH_BACKLOG_STORES=sqlite,postgres)
import { Agent, request } from 'undici';
import { join } from 'node:path';
import { createTestDatabase } from '../test/helpers/pg-database.ts';
import {
  fmt,
  freePort,
  payload,
  pool,
  receiverStats,
  spawnNode,
  startSwitchboard,
  stop,
  tempDir,
  token,
  waitDelivered,
  waitHttp,
  writeConfig,
  type ReceiverStats,
} from './lib.ts';
import { PREVIOUS } from './previous.ts';

const MESSAGES = Number(process.env.BENCH_BACKLOG ?? 100_000);
const STORES = (process.env.BENCH_BACKLOG_STORES ?? 'sqlite,postgres').split(',') as (
  'sqlite' | 'postgres'
)[];

export interface BacklogResult {
  store: 'sqlite' | 'postgres';
  messages: number;
  stats: ReceiverStats;
  /** Requests per second of one sequential worker posting straight to the receiver. */
  rawRate: number;
}

export async function runBacklog(store: 'sqlite' | 'postgres', messages = MESSAGES): Promise<BacklogResult> {
  const dir = tempDir(`backlog-${store}`);
  const receiverPort = await freePort();
  const receivers = spawnNode(['bench/receivers.ts'], { PORT: String(receiverPort) });
  const receiverBase = `http://127.0.0.1:${receiverPort}`;
  const database = store === 'postgres' ? await createTestDatabase('backlog') : undefined;
  const server = {
    dataDir: join(dir.path, 'data'),
    logLevel: 'warn',
    rateLimit: 1e9,
    databaseUrl: database?.url,
  };
  try {
    await waitHttp(`${receiverBase}/stats`);
    const destinations = [{ id: 'd0', url: `${receiverBase}/d0` }];
    const accepting = await startSwitchboard(
      writeConfig(dir.path, destinations, { server, delivery: { enabled: false } }),
    );
    const auth = `Bearer ${await token(accepting.url)}`;
    const agent = new Agent({ connections: 64 });
    const body = payload(0, 1024, 'd0');
    await pool(64, messages, async () => {
      const res = await request(`${accepting.url}/endpoint`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', authorization: auth },
        dispatcher: agent,
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`accept: ${res.statusCode}`);
    });
    await stop(accepting.child);

    const delivering = await startSwitchboard(writeConfig(dir.path, destinations, { server }));
    const stats = await waitDelivered(receiverBase, messages);
    await stop(delivering.child);

    await fetch(`${receiverBase}/reset`, { method: 'POST' });
    const raw = new Agent({ connections: 1 });
    const rawCount = Math.min(messages, 20_000);
    const started = performance.now();
    for (let n = 0; n < rawCount; n++) {
      const res = await request(`${receiverBase}/d0`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        dispatcher: raw,
      });
      await res.body.text();
    }
    const rawRate = rawCount / ((performance.now() - started) / 1000);
    await Promise.all([agent.close(), raw.close()]);
    return {
      store,
      messages,
      stats: stats.total >= messages ? stats : await receiverStats(receiverBase),
      rawRate,
    };
  } finally {
    await stop(receivers);
    await database?.drop();
    dir.remove();
  }
}

export function printBacklog(results: BacklogResult[]): void {
  console.log(`\nOne destination's backlog: ${fmt(MESSAGES)} queued, delivered one at a time, in order`);
  for (const r of results) {
    const rate = r.stats.total / Math.max(0.001, (r.stats.lastAt - r.stats.firstAt) / 1000);
    const target = r.store === 'sqlite' ? 1_500 : 1_000;
    console.log(
      `${r.store.padEnd(9)} ${fmt(rate).padStart(6)} deliveries/s first to last (${fmt(r.stats.total)} delivered)` +
        `  = ${((rate / r.rawRate) * 100).toFixed(0)}% of one sequential worker straight to the receiver (${fmt(r.rawRate)} req/s)` +
        `  target >= ${fmt(target)}/s: ${rate >= target ? 'met' : 'NOT met'}` +
        `  order: ${r.stats.violations} violations, ${r.stats.repeats} repeats` +
        `  (before the store rework: ~${fmt(PREVIOUS.backlog[r.store])}/s)`,
    );
  }
}

if (import.meta.main) {
  const results: BacklogResult[] = [];
  for (const store of STORES) results.push(await runBacklog(store));
  printBacklog(results);
  process.exit(0);
}
