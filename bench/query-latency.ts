// Added latency of a synchronous query through Switchboard, against calling the same local
// destination directly, in the same run, at 1 and at 50 concurrent callers (issue 3).
// Run alone: node bench/query-latency.ts   (BENCH_SECONDS, default 5 per measurement)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { ROOT, SECRET, freePort, waitHttp } from './lib.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** The destination: a plain HTTP server in its own process that answers a small search result. */
const DESTINATION = `
const http = require('node:http');
const answer = JSON.stringify({ Meta: { DataModel: 'PatientSearch', EventType: 'Query' },
  Patients: [{ Identifiers: [{ ID: '0000001', IDType: 'MR' }], Demographics: { FirstName: 'Timothy', LastName: 'Bixby' } }] });
http.createServer((req, res) => { req.resume(); req.on('end', () => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer); }); })
  .listen(Number(process.argv[1]), '127.0.0.1', () => process.send && process.send('ready'));`;

function start(args: string[], env: Record<string, string>, ready: (child: ChildProcess) => Promise<void>) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return ready(child).then(() => child);
}

interface Stats {
  count: number;
  p50: number;
  p99: number;
}

/** Aggregate rate of the paced callers: well below what either path saturates at on 2 cores. */
const PACED_RATE = Number(process.env.BENCH_QUERY_RATE ?? 1_000);

/**
 * `concurrency` callers for SECONDS; latencies in ms. Unpaced, each caller sends its next
 * request as soon as the last is answered (a closed loop: at 50 callers that measures the
 * saturated throughput of the three processes sharing two cores, as queueing). Paced, the
 * callers together send PACED_RATE requests a second, each on its own schedule, so the latency
 * is that of a busy but not saturated server.
 */
async function measure(
  concurrency: number,
  call: (agent: Agent) => Promise<void>,
  paced = false,
): Promise<Stats> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const warmUntil = performance.now() + 1_000;
  const until = warmUntil + SECONDS * 1000;
  const interval = (concurrency * 1000) / PACED_RATE;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, caller) => {
      let due = performance.now() + (caller * interval) / concurrency;
      while (performance.now() < until) {
        if (paced) {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          due += interval;
        }
        const started = performance.now();
        await call(agent);
        if (started > warmUntil) latencies.push(performance.now() - started);
      }
    }),
  );
  await agent.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { count: latencies.length, p50: at(0.5), p99: at(0.99) };
}

export async function runQueryLatency(): Promise<
  { concurrency: number; paced: boolean; direct: Stats; through: Stats }[]
> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-query-'));
  const destinationPort = await freePort();
  const switchboardPort = await freePort();
  const destinationUrl = `http://127.0.0.1:${destinationPort}/query`;
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      server: { dataDir: join(dir, 'data'), logLevel: 'warn', rateLimit: 100_000_000 },
      organizations: [
        {
          id: 'bench',
          name: 'Bench',
          sources: [
            {
              id: 'app',
              name: 'App',
              environment: 'production',
              clientId: 'bench-client',
              clientSecret: SECRET,
            },
          ],
          destinations: [{ id: 'mpi', name: 'MPI', environment: 'production', url: destinationUrl }],
          subscriptions: [{ source: 'app', dataModel: 'PatientSearch', destination: 'mpi' }],
        },
      ],
    }),
  );
  const children: ChildProcess[] = [];
  try {
    children.push(
      await start(
        ['-e', DESTINATION, String(destinationPort)],
        {},
        (child) => new Promise((resolve) => child.once('message', () => resolve())),
      ),
    );
    children.push(
      await start(
        [
          ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []),
          join(ROOT, 'src/main.ts'),
        ],
        {
          SWITCHBOARD_CONFIG: join(dir, 'config.json'),
          PORT: String(switchboardPort),
          HOST: '127.0.0.1',
        },
        () => waitHttp(`http://127.0.0.1:${switchboardPort}/healthz`),
      ),
    );
    const base = `http://127.0.0.1:${switchboardPort}`;
    const tokenRes = await fetch(`${base}/v2/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'bench-client',
        client_secret: SECRET,
      }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const body = JSON.stringify({
      Meta: { DataModel: 'PatientSearch', EventType: 'Query' },
      Patient: { Identifiers: [{ ID: '0000001', IDType: 'MR' }] },
    });
    const post = (url: string, headers: Record<string, string>) => async (agent: Agent) => {
      const res = await request(url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
        dispatcher: agent,
      });
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
      await res.body.text();
    };
    const results = [];
    const runs = [
      { concurrency: 1, paced: false },
      { concurrency: 50, paced: true },
      { concurrency: 50, paced: false },
    ];
    for (const { concurrency, paced } of runs) {
      const direct = await measure(concurrency, post(destinationUrl, {}), paced);
      const through = await measure(
        concurrency,
        post(`${base}/query`, { authorization: `Bearer ${token}` }),
        paced,
      );
      results.push({ concurrency, paced, direct, through });
    }
    return results;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printQueryLatency(results: Awaited<ReturnType<typeof runQueryLatency>>): void {
  console.log('\nQuery latency: through Switchboard vs the destination directly (ms)');
  console.log(
    'callers          | direct p50 | direct p99 | through p50 | through p99 | added p50 | added p99 | queries measured',
  );
  for (const { concurrency, paced, direct, through } of results)
    console.log(
      [
        `${concurrency} ${paced ? `paced ${PACED_RATE}/s` : 'unpaced'}`.padEnd(16),
        direct.p50.toFixed(3).padStart(10),
        direct.p99.toFixed(3).padStart(10),
        through.p50.toFixed(3).padStart(11),
        through.p99.toFixed(3).padStart(11),
        (through.p50 - direct.p50).toFixed(3).padStart(9),
        (through.p99 - direct.p99).toFixed(3).padStart(9),
        String(through.count).padStart(16),
      ].join(' | '),
    );
  console.log(
    'target: added < 1 ms at p50 and < 5 ms at p99 (unpaced at 50 callers, both paths are saturated: the added time is queueing for the 2 cores)',
  );
}

if (import.meta.main) printQueryLatency(await runQueryLatency());
