// The embedded store's own thread: it owns the SQLite connection, so statements and the fsync of
// every commit run here while the main thread keeps serving HTTP and delivering.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite-store.ts';
import type { StoreCall, StoreReply } from './worker-store.ts';

const { path, checkpoints } = workerData as { path: string; checkpoints: 'auto' | 'external' };
const store = new SqliteStore(path, { checkpoints });
const methods = store as unknown as Record<string, ((...args: unknown[]) => Promise<unknown>) | undefined>;

// The replies of one commit go back as one message: a commit resolves all its operations in one
// go, and this microtask runs after their callbacks have queued their replies.
let outbox: StoreReply[] = [];
const reply = (message: StoreReply): void => {
  if (outbox.push(message) === 1)
    queueMicrotask(() => {
      const replies = outbox;
      outbox = [];
      parentPort?.postMessage(replies);
    });
};

parentPort?.on('message', (calls: StoreCall[]) => {
  for (const call of calls) {
    const method = methods[call.method];
    if (typeof method !== 'function') {
      reply({
        id: call.id,
        ok: false,
        error: { name: 'TypeError', message: `no store method ${call.method}` },
      });
      continue;
    }
    method.apply(store, call.args).then(
      (value) => reply({ id: call.id, ok: true, value }),
      (error: unknown) => {
        const e = error instanceof Error ? error : new Error(String(error));
        reply({ id: call.id, ok: false, error: { name: e.name, message: e.message } });
      },
    );
  }
});
