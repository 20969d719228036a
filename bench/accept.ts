// Accept: POST /endpoint with a 1 KB payload at 50 connections, against a bare Fastify route
// measured in the same run. Each server runs in its own process; autocannon runs in this one.
// Run alone: node bench/accept.ts   (BENCH_SECONDS, default 10)
import autocannon from 'autocannon';
import {
  SECONDS,
  cpuSeconds,
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
} from './lib.ts';
import { PREVIOUS } from './previous.ts';
import { validatePayload } from '../src/models/validation.ts';

interface Load {
  requestsPerSecond: number;
  /** CPU time of the server process (all threads) per request: steadier than throughput. */
  cpuMicros: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  pid: number | undefined,
): Promise<Load> {
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url: `${url}/endpoint`,
    method: 'POST',
    connections: 50,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body: payload(1, 1024),
  });
  return {
    requestsPerSecond: result.requests.average,
    cpuMicros: ((cpuSeconds(pid) - cpuBefore) / result.requests.total) * 1e6,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export interface AcceptResult {
  bare: Load;
  switchboard: Load;
  /** The same with the source's payload validation off (SPEC 2.2): what validation costs. */
  unvalidated: Load;
  /** One validation of the 1 KB payload, in this process: p50 and p99, ms. */
  validation: { p50: number; p99: number };
}

function measureValidation(): { p50: number; p99: number } {
  const body = JSON.parse(payload(1, 1024)) as unknown;
  const times: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const started = performance.now();
    validatePayload(body, 'PatientAdmin', 'NewPatient');
    if (i >= 1_000) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    p50: times[Math.floor(times.length * 0.5)] ?? 0,
    p99: times[Math.floor(times.length * 0.99)] ?? 0,
  };
}

export async function runAccept(seconds = SECONDS): Promise<AcceptResult> {
  const bareDir = tempDir('bare');
  const port = await freePort();
  const bare = spawnNode(['bench/bare-server.ts'], { PORT: String(port) });
  const dir = tempDir('accept');
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`);
    await load(`http://127.0.0.1:${port}`, {}, 2, bare.pid);
    const bareLoad = await load(`http://127.0.0.1:${port}`, {}, seconds, bare.pid);
    await stop(bare);

    // Accept only: delivery is off in this process, so the figure is the durable accept path.
    const config = writeConfig(dir.path, [{ id: 'app', url: 'http://127.0.0.1:9/unused' }], {
      delivery: { enabled: false },
    });
    const server = await startSwitchboard(config);
    const auth = { authorization: `Bearer ${await token(server.url)}` };
    await load(server.url, auth, 2, server.child.pid);
    const switchboardLoad = await load(server.url, auth, seconds, server.child.pid);
    await stop(server.child);

    const offDir = tempDir('accept-unvalidated');
    try {
      const offConfig = writeConfig(
        offDir.path,
        [{ id: 'app', url: 'http://127.0.0.1:9/unused' }],
        { delivery: { enabled: false } },
        { validation: 'off' },
      );
      const off = await startSwitchboard(offConfig);
      const offAuth = { authorization: `Bearer ${await token(off.url)}` };
      await load(off.url, offAuth, 2, off.child.pid);
      const unvalidated = await load(off.url, offAuth, seconds, off.child.pid);
      await stop(off.child);
      return { bare: bareLoad, switchboard: switchboardLoad, unvalidated, validation: measureValidation() };
    } finally {
      offDir.remove();
    }
  } finally {
    await stop(bare);
    bareDir.remove();
    dir.remove();
  }
}

export function printAccept({ bare, switchboard, unvalidated, validation }: AcceptResult): void {
  console.log('\nAccept: POST /endpoint, 1 KB payload, 50 connections (autocannon)');
  console.log('                       req/s      p50 ms   p99 ms   non-2xx   CPU µs/req');
  for (const [name, r] of [
    ['bare Fastify route', bare],
    ['Switchboard (durable)', switchboard],
    ['  validation off', unvalidated],
  ] as const)
    console.log(
      `${name.padEnd(22)} ${fmt(r.requestsPerSecond).padStart(8)} ${fmt(r.p50, 1).padStart(10)} ${fmt(r.p99, 1).padStart(8)} ${String(r.non2xx + r.errors).padStart(9)} ${fmt(r.cpuMicros).padStart(12)}`,
    );
  const ratio = switchboard.requestsPerSecond / bare.requestsPerSecond;
  console.log(
    `ratio switchboard/bare: ${(ratio * 100).toFixed(1)}%  (target >= 50%, p99 < 20 ms: ${ratio >= 0.5 && switchboard.p99 < 20 ? 'met' : 'NOT met'})`,
  );
  console.log('Every 200 is a message and its log committed with synchronous=FULL (group commit).');
  const cost = switchboard.requestsPerSecond / unvalidated.requestsPerSecond;
  console.log(
    `validation: ${(cost * 100).toFixed(1)}% of the unvalidated throughput, ${fmt(switchboard.cpuMicros - unvalidated.cpuMicros, 1)} µs CPU/req; ` +
      `one check of the 1 KB payload p50 ${(validation.p50 * 1000).toFixed(1)} µs, p99 ${(validation.p99 * 1000).toFixed(1)} µs ` +
      `(targets: within 10%, p99 < 0.5 ms: ${cost >= 0.9 && validation.p99 < 0.5 ? 'met' : 'NOT met'})`,
  );
  const before = PREVIOUS.accept;
  console.log(
    `before the store rework (${PREVIOUS.date}): ${fmt(before.requestsPerSecond)} req/s, ${before.cpuMicros} µs CPU/req ` +
      `(bare route then ${fmt(before.bareRequestsPerSecond)} req/s); now ${fmt(switchboard.cpuMicros)} µs CPU/req`,
  );
}

if (import.meta.main) printAccept(await runAccept());
