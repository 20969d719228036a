import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from '../../errors.ts';
import { sqliteDialect } from '../sql/dialect.ts';
import type { RoleName, Store, StoreRoles } from '../store.ts';
import { outgoing, REMOTE_METHODS, type StoreCall, type StoreReply } from './store-protocol.ts';

/** How often the checkpointer thread copies the WAL into the database file. */
const CHECKPOINT_INTERVAL_MS = 1_000;

/**
 * The embedded store as the rest of Switchboard sees it: each role's methods (listed in
 * `store-protocol.ts`) are forwarded to a worker thread that owns the SQLite connection
 * (`store-worker.ts`). Commits, and their fsync, then no longer stop the event loop; calls keep
 * their order, so writes keep theirs.
 */
export function openWorkerStore(
  path: string,
  options: { onClose?: () => void; diskFreeLimitBytes?: number } = {},
): Store {
  const worker = new Worker(new URL('./store-worker.ts', import.meta.url), {
    workerData: {
      path,
      checkpoints: 'external',
      diskFreeLimitBytes: options.diskFreeLimitBytes,
    },
  });
  // Started once the store thread has opened the file in WAL mode (its first reply says so).
  let checkpointer: Worker | undefined;
  const startCheckpointer = (): void => {
    checkpointer = new Worker(new URL('./checkpointer.ts', import.meta.url), {
      workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS },
    });
    // A checkpointer that dies costs only WAL growth; the store keeps working.
    checkpointer.on('error', () => undefined);
  };
  const stopCheckpointer = async (): Promise<void> => {
    const thread = checkpointer;
    if (!thread) return;
    checkpointer = undefined;
    const stopped = new Promise<void>((resolve) => {
      thread.once('message', () => resolve());
      thread.once('exit', () => resolve());
    });
    thread.postMessage('stop');
    await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    await thread.terminate();
  };
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;

  const fail = (error: Error): void => {
    void stopCheckpointer();
    failure = new StoreUnavailableError(`the store thread stopped: ${error.message}`);
    for (const call of pending.values()) call.reject(failure);
    pending.clear();
  };
  worker.on('message', (replies: StoreReply[]) => {
    if (!checkpointer && !failure) startCheckpointer();
    for (const reply of replies) {
      const call = pending.get(reply.id);
      if (!call) continue;
      pending.delete(reply.id);
      if (reply.ok) call.resolve(reply.value);
      else call.reject(revive(reply.error));
    }
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));

  // Calls made during one turn of the event loop cross to the worker as one message: fewer
  // messages, and the worker sees them together, so they share one commit.
  let outbox: StoreCall[] = [];
  let moving: ArrayBuffer[] = [];
  const send = (): void => {
    const calls = outbox;
    const transfer = moving;
    outbox = [];
    moving = [];
    try {
      worker.postMessage(calls, transfer);
    } catch (error) {
      for (const c of calls) {
        pending.get(c.id)?.reject(error as Error);
        pending.delete(c.id);
      }
    }
  };
  const call = (role: StoreCall['role'], method: string, args: unknown[]): Promise<unknown> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const crossing = outgoing({ id, role, method, args }); // throws for bytes already moved
      pending.set(id, { resolve, reject });
      moving.push(...crossing.transfer);
      if (outbox.push(crossing.call) === 1) setImmediate(send);
    });
  };
  const remote = <R extends RoleName>(role: R): StoreRoles[R] =>
    Object.fromEntries(
      REMOTE_METHODS[role].map((method) => [method, (...args: unknown[]) => call(role, method, args)]),
    ) as unknown as StoreRoles[R];

  return {
    capabilities: sqliteDialect.capabilities,
    catalog: remote('catalog'),
    intake: remote('intake'),
    queues: remote('queues'),
    operators: remote('operators'),
    oneTimeKeys: remote('oneTimeKeys'),
    alerts: remote('alerts'),
    retention: remote('retention'),
    migrate: () => call('lifecycle', 'migrate', []) as Promise<void>,
    ping: () => call('lifecycle', 'ping', []) as Promise<void>,
    probeWrite: () => call('lifecycle', 'probeWrite', []) as Promise<void>,
    checkSpace: () => call('lifecycle', 'checkSpace', []) as Promise<void>,
    async close() {
      if (failure) return options.onClose?.();
      try {
        await stopCheckpointer();
        await call('lifecycle', 'close', []);
        failure = new StoreUnavailableError('store is closed');
        await worker.terminate();
      } finally {
        options.onClose?.();
      }
    },
  };
}

/** Errors cross the thread boundary as name and message; the store's own kinds keep their class. */
function revive(error: { name: string; message: string }): Error {
  if (error.name === 'StoreUnavailableError') return new StoreUnavailableError(error.message);
  const revived = new Error(error.message);
  revived.name = error.name;
  return revived;
}
