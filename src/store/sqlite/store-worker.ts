// The embedded store's own thread: it owns the SQLite connection, so statements and the fsync of
// every commit run here while the main thread keeps serving HTTP and delivering.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite-store.ts';
import type { StoreCall, StoreReply } from './worker-store.ts';

const store = new SqliteStore((workerData as { path: string }).path);
const methods = store as unknown as Record<string, ((...args: unknown[]) => Promise<unknown>) | undefined>;

parentPort?.on('message', (call: StoreCall) => {
  const method = methods[call.method];
  const reply = (message: StoreReply): void => parentPort?.postMessage(message);
  if (typeof method !== 'function') {
    reply({
      id: call.id,
      ok: false,
      error: { name: 'TypeError', message: `no store method ${call.method}` },
    });
    return;
  }
  method.apply(store, call.args).then(
    (value) => reply({ id: call.id, ok: true, value }),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      reply({ id: call.id, ok: false, error: { name: e.name, message: e.message } });
    },
  );
});
