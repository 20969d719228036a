import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from '../../errors.ts';
import type { Store } from '../store.ts';

export interface StoreCall {
  id: number;
  method: string;
  args: unknown[];
}

export type StoreReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };

/**
 * The embedded store as the rest of Switchboard sees it: every Store method is forwarded to a
 * worker thread that owns the SQLite connection (`store-worker.ts`). Commits, and their fsync,
 * then no longer stop the event loop; calls keep their order, so writes keep theirs.
 */
export function openWorkerStore(path: string): Store {
  const worker = new Worker(new URL('./store-worker.ts', import.meta.url), { workerData: { path } });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;

  const fail = (error: Error): void => {
    failure = new StoreUnavailableError(`the store thread stopped: ${error.message}`);
    for (const call of pending.values()) call.reject(failure);
    pending.clear();
  };
  worker.on('message', (reply: StoreReply) => {
    const call = pending.get(reply.id);
    if (!call) return;
    pending.delete(reply.id);
    if (reply.ok) call.resolve(reply.value);
    else call.reject(revive(reply.error));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));

  const call = (method: string, args: unknown[]): Promise<unknown> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      try {
        worker.postMessage({ id, method, args } satisfies StoreCall);
      } catch (error) {
        pending.delete(id);
        reject(error as Error);
      }
    });
  };

  const own: Partial<Store> = {
    capabilities: { multipleWriters: false },
    // Only shared stores have these; present but undefined, so the proxy does not forward them.
    onWork: undefined,
    exclusive: undefined,
    async close() {
      if (failure) return;
      await call('close', []);
      failure = new StoreUnavailableError('store is closed');
      await worker.terminate();
    },
  };
  return new Proxy(own as Store, {
    get(target, property) {
      if (property in target) return target[property as keyof Store];
      // Not a thenable: `await store` must not call into the worker.
      if (property === 'then' || typeof property !== 'string') return undefined;
      return (...args: unknown[]) => call(property, args);
    },
  });
}

/** Errors cross the thread boundary as name and message; the store's own kinds keep their class. */
function revive(error: { name: string; message: string }): Error {
  if (error.name === 'StoreUnavailableError') return new StoreUnavailableError(error.message);
  const revived = new Error(error.message);
  revived.name = error.name;
  return revived;
}
