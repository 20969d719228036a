// Shared plumbing of the benchmarks: child processes, free ports, config files, tokens.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
export const SECRET = 'bench-secret-0123456789';
export const PLATFORM_KEY = 'pk_bench_0123456789abcdef';
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function waitHttp(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not come up`);
}

/** Every child process the benchmarks start; all are killed when the run ends, however it ends. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function spawnNode(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc; NaN where
 * there is no /proc. Unlike throughput, CPU per operation barely moves when other processes
 * compete for the cores, so it is the figure to compare changes by on a busy machine.
 */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5), utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export function tempDir(name: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `switchboard-bench-${name}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface BenchDestination {
  id: string;
  url: string;
  orderingKey?: string;
  maxInFlight?: number;
}

/** A config of one organization, one source and the given destinations (explicitly addressed). */
export function writeConfig(
  dir: string,
  destinations: BenchDestination[],
  extra: Record<string, unknown> = {},
  /** More fields of the source (e.g. `validation`). */
  source: Record<string, unknown> = {},
): string {
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      server: { dataDir: join(dir, 'data'), logLevel: 'warn', rateLimit: 1_000_000_000 },
      ...extra,
      organizations: [
        {
          id: 'bench',
          name: 'Bench',
          platformKeys: [PLATFORM_KEY],
          sources: [
            {
              id: 'app',
              name: 'App',
              environment: 'production',
              clientId: 'bench-client',
              clientSecret: SECRET,
              ...source,
            },
          ],
          destinations: destinations.map((d) => ({ ...d, name: d.id, environment: 'production' })),
          subscriptions: destinations
            .slice(0, 1)
            .map((d) => ({ source: 'app', dataModel: 'PatientAdmin', destination: d.id })),
        },
      ],
    }),
  );
  return file;
}

/** Starts `src/main.ts` on a free port with a config file; resolves once it answers. */
export async function startSwitchboard(
  configFile: string,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  // BENCH_PROFILE=dir writes a CPU profile of each Switchboard process there (Node refuses
  // --cpu-prof in NODE_OPTIONS, so it goes on the command line).
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const child = spawnNode([...profile, 'src/main.ts'], {
    // As `npm start` sets it (docs/reliability.md, "Memory"): glibc's fixed mmap threshold.
    MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
    SWITCHBOARD_CONFIG: configFile,
    PORT: String(port),
    HOST: '127.0.0.1',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`);
  return { child, url };
}

export async function token(url: string): Promise<string> {
  const res = await fetch(`${url}/v2/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'bench-client',
      client_secret: SECRET,
    }),
  });
  if (!res.ok) throw new Error(`token: ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A data model payload of about `bytes` bytes. */
export function payload(n: number, bytes = 1024, destination?: string): string {
  const body = {
    Meta: {
      DataModel: 'PatientAdmin',
      EventType: 'NewPatient',
      EventDateTime: '2026-11-22T10:00:00.000Z',
      ...(destination ? { Destinations: [{ ID: destination }] } : {}),
    },
    Patient: {
      Identifiers: [{ ID: `MRN-${n}`, IDType: 'MR' }],
      Demographics: { FirstName: 'Timothy', LastName: 'Bixby', DOB: '2008-01-06', Sex: 'Male' },
      Notes: [] as string[],
    },
  };
  const base = JSON.stringify(body).length;
  if (bytes > base + 12) body.Patient.Notes.push('x'.repeat(bytes - base - 12));
  return JSON.stringify(body);
}

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** What bench/receivers.ts counted since its last reset (GET /stats). */
export interface ReceiverStats {
  total: number;
  violations: number;
  repeats: number;
  firstAt: number;
  lastAt: number;
}

export async function receiverStats(base: string): Promise<ReceiverStats> {
  return (await (await fetch(`${base}/stats`)).json()) as ReceiverStats;
}

/** Polls the receivers until `count` deliveries arrived (or 10 minutes passed). */
export async function waitDelivered(base: string, count: number): Promise<ReceiverStats> {
  const deadline = Date.now() + 600_000;
  let seen = await receiverStats(base);
  while (seen.total < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen = await receiverStats(base);
  }
  return seen;
}

/** `workers` loops sharing `count` jobs, each job awaited before the next. */
export async function pool(workers: number, count: number, job: (n: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < count) await job(next++);
    }),
  );
}
