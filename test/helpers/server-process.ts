import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './wait.ts';

const ROOT = join(import.meta.dirname, '../..');

/** A server running `src/main.ts` as a child process, as an operator would run it. */
export interface ServerProcess {
  process: ChildProcess;
  url: string;
  /** Resolves once the process has exited (killed or not). */
  exited: Promise<void>;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL, then waits for the exit; true when it was this kill that ended it. */
  kill(): Promise<boolean>;
  /** SIGTERM (a graceful stop), then waits for the exit; its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Spawns `src/main.ts` on `configFile` (which names the port of `url`), and waits until `/healthz`
 * answers. Only the config file decides: nothing from the test runner's environment that a server
 * reads (port, host, data dir, database, log level, the test runner's context) leaks in.
 */
export async function startServerProcess(configFile: string, url: string): Promise<ServerProcess> {
  const ignored = new Set(['PORT', 'HOST', 'DATA_DIR', 'DATABASE_URL', 'LOG_LEVEL', 'NODE_TEST_CONTEXT']);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !ignored.has(name))),
    SWITCHBOARD_CONFIG: configFile,
  };
  const proc = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const gone = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
  const server: ServerProcess = {
    process: proc,
    url,
    exited,
    output: () => output,
    async kill() {
      const alive = !gone();
      proc.kill('SIGKILL');
      await exited;
      return alive && proc.signalCode === 'SIGKILL';
    },
    async stop() {
      if (!gone()) proc.kill('SIGTERM');
      await exited;
      return proc.exitCode;
    },
  };
  try {
    await waitFor(
      async () => {
        if (gone()) throw new Error(`server exited during start-up:\n${output}`);
        try {
          return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
        } catch {
          return false; // Not listening yet.
        }
      },
      15_000,
      'the server to answer /healthz',
    );
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server;
}
