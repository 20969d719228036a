// History: does Switchboard stay fast as its store fills up? One production destination with a
// fast local receiver; single messages sent one at a time, timed from the request to their
// arrival at the receiver; then log searches by patient identifier (q=) through the Platform
// API. Measured on an empty store, then after 100,000 and 1,000,000 delivered logs are
// bulk-inserted into it (test/helpers/history.ts), on both stores. The baseline is the same
// figures on the empty store, in the same run.
// Run alone: node bench/history.ts   (BENCH_HISTORY=0,100000,1000000; BENCH_HISTORY_STORES=sqlite,postgres)
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { seedPostgresHistory, seedSqliteHistory } from '../test/helpers/history.ts';
import { createTestDatabase } from '../test/helpers/pg-database.ts';
import { fmt, payload, PLATFORM_KEY, startSwitchboard, stop, tempDir, token, writeConfig } from './lib.ts';

const SIZES = (process.env.BENCH_HISTORY ?? '0,100000,1000000').split(',').map(Number);
const STORES = (process.env.BENCH_HISTORY_STORES ?? 'sqlite,postgres').split(',') as (
  'sqlite' | 'postgres'
)[];
const MESSAGES = 60;
const GAP_MS = 40;
const SEARCHES = 100;

export interface HistoryPoint {
  retained: number;
  delivery: { p50: number; p99: number };
  search: { p50: number; p99: number };
  /** Server time of the dashboard's logs page (the newest 50, and a patient's search). */
  dashboard: { p50: number; p99: number };
}

export interface HistoryResult {
  store: 'sqlite' | 'postgres';
  points: HistoryPoint[];
  /** Seconds the bulk inserts took, for the record. */
  seedSeconds: number;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

export async function runHistory(store: 'sqlite' | 'postgres'): Promise<HistoryResult> {
  const dir = tempDir(`history-${store}`);
  const arrivals = new Map<string, (at: number) => void>();
  const receiver = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.get(String(req.headers['x-switchboard-log-id']))?.(performance.now());
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/d0`;
  const database = store === 'postgres' ? await createTestDatabase('history') : undefined;
  const config = writeConfig(
    dir.path,
    [{ id: 'd0', url: receiverUrl }],
    database
      ? {
          server: {
            dataDir: join(dir.path, 'data'),
            logLevel: 'warn',
            rateLimit: 1e9,
            databaseUrl: database.url,
          },
        }
      : {},
  );
  let running = await startSwitchboard(config);
  let retained = 0;
  let seedSeconds = 0;
  const points: HistoryPoint[] = [];
  try {
    for (const size of SIZES) {
      if (size > retained) {
        // The bulk insert goes behind the server's back, so the server is stopped meanwhile.
        await stop(running.child);
        const started = performance.now();
        const spec = {
          orgId: 'bench',
          destinationId: 'd0',
          count: size - retained,
          from: Date.now() - 86_400_000,
        };
        if (database) await seedPostgresHistory(database.url, spec);
        else seedSqliteHistory(join(dir.path, 'data', 'switchboard.db'), spec);
        seedSeconds += (performance.now() - started) / 1000;
        retained = size;
        running = await startSwitchboard(config);
      }
      const auth = `Bearer ${await token(running.url)}`;
      const delivery: number[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        const sentAt = performance.now();
        const res = await fetch(`${running.url}/endpoint`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body: payload(i, 1024),
        });
        const logId = ((await res.json()) as { Meta: { Logs: { ID: string }[] } }).Meta.Logs[0]!.ID;
        const arrived = await new Promise<number>((resolve) => arrivals.set(logId, resolve));
        arrivals.delete(logId);
        // The first few warm the connections and the statement caches.
        if (i >= 10) delivery.push(arrived - sentAt);
        await new Promise((resolve) => setTimeout(resolve, GAP_MS));
      }
      const search: number[] = [];
      for (let i = 0; i < SEARCHES; i++) {
        const q = retained > 0 ? `HIST-${1 + Math.floor(Math.random() * retained)}` : `MRN-${i % MESSAGES}`;
        const started = performance.now();
        const res = await fetch(`${running.url}/platform/v1/logs?q=${q}`, {
          headers: { authorization: `Bearer ${PLATFORM_KEY}` },
        });
        const found = (await res.json()) as { logs: unknown[] };
        if (res.status !== 200 || found.logs.length === 0) throw new Error(`search ${q}: ${res.status}`);
        if (i >= 10) search.push(performance.now() - started);
      }
      const signIn = await fetch(`${running.url}/dashboard/sign-in`, {
        method: 'POST',
        body: new URLSearchParams({ key: PLATFORM_KEY }),
        redirect: 'manual',
      });
      const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const dashboard: number[] = [];
      for (let i = 0; i < SEARCHES; i++) {
        const q = retained > 0 ? `HIST-${1 + Math.floor(Math.random() * retained)}` : `MRN-${i % MESSAGES}`;
        const path = i % 2 === 0 ? '/dashboard/logs' : `/dashboard/logs?q=${q}`;
        const started = performance.now();
        const res = await fetch(`${running.url}${path}`, { headers: { cookie } });
        const text = await res.text();
        if (res.status !== 200 || !text.includes('/dashboard/logs/'))
          throw new Error(`dashboard ${path}: ${res.status}`);
        if (i >= 10) dashboard.push(performance.now() - started);
      }
      points.push({
        retained,
        dashboard: { p50: percentile(dashboard, 50), p99: percentile(dashboard, 99) },
        delivery: { p50: percentile(delivery, 50), p99: percentile(delivery, 99) },
        search: { p50: percentile(search, 50), p99: percentile(search, 99) },
      });
    }
  } finally {
    await stop(running.child);
    receiver.close();
    await database?.drop();
    dir.remove();
  }
  return { store, points, seedSeconds };
}

export function printHistory(results: HistoryResult[]): void {
  console.log('\nHistory: single messages, request to arrival, and q= searches, as the store fills up');
  for (const { store, points, seedSeconds } of results) {
    const empty = points[0]!;
    console.log(`${store} (bulk inserts took ${seedSeconds.toFixed(0)} s):`);
    for (const p of points) {
      const ratio = (now: number, then: number): string => `${((now / then) * 100).toFixed(0)}%`;
      console.log(
        `  ${fmt(p.retained).padStart(9)} logs: delivery p50 ${p.delivery.p50.toFixed(1)} ms, p99 ${p.delivery.p99.toFixed(1)} ms` +
          `  search p50 ${p.search.p50.toFixed(1)} ms, p99 ${p.search.p99.toFixed(1)} ms` +
          `  dashboard logs page p50 ${p.dashboard.p50.toFixed(1)} ms, p99 ${p.dashboard.p99.toFixed(1)} ms` +
          (p === empty
            ? ''
            : `  (of empty: delivery p50 ${ratio(p.delivery.p50, empty.delivery.p50)}, search p99 ${ratio(p.search.p99, empty.search.p99)})`),
      );
    }
    const last = points.at(-1)!;
    const met =
      last.delivery.p50 < 10 && last.delivery.p99 < 50 && last.search.p99 < 100 && last.dashboard.p99 < 200;
    console.log(
      `  target at ${fmt(last.retained)}: delivery p50 < 10 ms, p99 < 50 ms, search p99 < 100 ms, dashboard logs page p99 < 200 ms: ${met ? 'met' : 'NOT met'}`,
    );
  }
}

if (import.meta.main) {
  const results: HistoryResult[] = [];
  for (const store of STORES) results.push(await runHistory(store));
  printHistory(results);
  process.exit(0);
}
