// The embedded store's own thread: it owns the SQLite connection, so statements and the fsync of
// every commit run here while the main thread keeps serving HTTP and delivering.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from './sqlite-store.ts';
import {
  LIFECYCLE_METHODS,
  movable,
  releaseMoved,
  REMOTE_METHODS,
  type StoreCall,
  type StoreReply,
} from './store-protocol.ts';

const { path, checkpoints, diskFreeLimitBytes } = workerData as {
  path: string;
  checkpoints: 'auto' | 'external';
  diskFreeLimitBytes?: number;
};
const store = new SqliteStore(path, { checkpoints, diskFreeLimitBytes });

type Method = (...args: unknown[]) => Promise<unknown>;

/** The method a call names, if the protocol allows it. */
function methodOf(call: StoreCall): Method | undefined {
  if (call.role === 'lifecycle') {
    const name = LIFECYCLE_METHODS.find((m) => m === call.method);
    return name && (() => store[name]());
  }
  const names: readonly string[] | undefined = REMOTE_METHODS[call.role];
  if (!names?.includes(call.method)) return undefined;
  const role = store[call.role] as unknown as Record<string, Method>;
  return (...args) => role[call.method]!.apply(role, args);
}

// The replies of one commit go back as one message: a commit resolves all its operations in one
// go, and this microtask runs after their callbacks have queued their replies.
let outbox: StoreReply[] = [];
let moving = new Set<ArrayBuffer>();
const reply = (message: StoreReply): void => {
  if (message.ok) movable(message.value, moving);
  if (outbox.push(message) === 1)
    queueMicrotask(() => {
      const replies = outbox;
      const transfer = [...moving];
      outbox = [];
      moving = new Set();
      parentPort?.postMessage(replies, transfer);
    });
};

parentPort?.on('message', (calls: StoreCall[]) => {
  for (const call of calls) {
    const method = methodOf(call);
    if (!method) {
      reply({
        id: call.id,
        ok: false,
        error: { name: 'TypeError', message: `no store method ${call.role}.${call.method}` },
      });
      continue;
    }
    method(...call.args).then(
      (value) => {
        releaseMoved(call);
        reply({ id: call.id, ok: true, value });
      },
      (error: unknown) => {
        releaseMoved(call);
        const e = error instanceof Error ? error : new Error(String(error));
        reply({ id: call.id, ok: false, error: { name: e.name, message: e.message } });
      },
    );
  }
});
