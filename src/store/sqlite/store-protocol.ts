import type { RoleName, StoreRoles } from '../store.ts';

/**
 * What crosses between the main thread and the store thread (`worker-store.ts`,
 * `store-worker.ts`): a call names a role and one of its methods from this table, which the
 * compiler checks lists every method of every role. Nothing else can be called across.
 */
export const REMOTE_METHODS = {
  catalog: ['syncCatalog', 'loadCatalog', 'changeCatalog', 'catalogVersion', 'getOrCreateSetting'],
  intake: ['acceptMessage', 'recordQuery'],
  queues: [
    'claimQueues',
    'nextDueAt',
    'headLogs',
    'dueKeys',
    'keyHeadLogs',
    'recordAttempt',
    'renewLeases',
    'releaseQueue',
    'releaseLeases',
  ],
  operators: [
    'searchLogs',
    'countRetriable',
    'logMark',
    'retryLogs',
    'getLog',
    'retryLog',
    'getQueue',
    'setQueuePaused',
    'skipHead',
    'listAlerts',
    'listQueues',
    'recordAudit',
    'listAudit',
  ],
  oneTimeKeys: ['claimOnce', 'hasClaim'],
  alerts: ['unsentAlerts', 'markAlertSent'],
  retention: ['purge'],
} as const satisfies { [R in RoleName]: readonly (keyof StoreRoles[R])[] };

/** The lifecycle methods the store thread runs. */
export const LIFECYCLE_METHODS = ['migrate', 'ping', 'probeWrite', 'checkSpace', 'close'] as const;

// Fails to compile when a role gains a method that is not in the table above.
type Unlisted = {
  [R in RoleName]: Exclude<keyof StoreRoles[R], (typeof REMOTE_METHODS)[R][number]>;
}[RoleName];
export const EVERY_METHOD_LISTED: [Unlisted] extends [never] ? true : Unlisted = true;

export interface StoreCall {
  id: number;
  role: RoleName | 'lifecycle';
  method: string;
  args: unknown[];
}

export type StoreReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };

/**
 * Large payloads cross the thread boundary moved, not copied (issue 15: a flood of large
 * messages held each byte several times over): a message's bytes are transferred to the store
 * thread, which binds them as they are, and payloads read for delivery come back as bytes the
 * same way. Small ones are cloned: cheaper than a transfer, and a small Buffer may share its
 * memory with others.
 */
const MOVED_BYTES = 64 * 1024;

/**
 * The call as it crosses to the store thread, and the buffers it moves there. A message's
 * payload given as bytes is moved itself: `acceptMessage` takes it over (the caller is done with
 * it once the message is stored). Any other payload is encoded into a fresh buffer to move.
 */
export function outgoing(call: StoreCall): { call: StoreCall; transfer: ArrayBuffer[] } {
  const [message] = call.args as [{ payload?: unknown } | undefined];
  const payload = message?.payload;
  if (call.role !== 'intake' || !(typeof payload === 'string' || payload instanceof Uint8Array))
    return { call, transfer: [] };
  // Bytes moved by an earlier call read as empty here: stored, they would be an empty message.
  if (payload instanceof Uint8Array && payload.buffer instanceof ArrayBuffer && payload.buffer.detached)
    throw new TypeError('a payload already moved to the store thread was given again');
  if (payload.length < MOVED_BYTES) return { call, transfer: [] };
  const bytes =
    typeof payload === 'string'
      ? new TextEncoder().encode(payload)
      : call.method === 'acceptMessage' && ownsItsBuffer(payload)
        ? payload
        : new Uint8Array(payload);
  return {
    call: { ...call, args: [{ ...message, payload: bytes }, ...call.args.slice(1)] },
    transfer: [bytes.buffer as ArrayBuffer],
  };
}

/** Whether the view is the whole of an ArrayBuffer of its own (not pooled, not shared). */
function ownsItsBuffer(bytes: Uint8Array): boolean {
  return (
    bytes.buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength
  );
}

/** The buffers a reply can move instead of copy: delivery logs' payload bytes. */
export function movable(value: unknown, into: Set<ArrayBuffer>): void {
  if (!Array.isArray(value)) return;
  for (const item of value as { payload?: unknown }[]) {
    const payload = item?.payload;
    if (payload instanceof Uint8Array && payload.byteLength >= MOVED_BYTES && ownsItsBuffer(payload))
      into.add(payload.buffer as ArrayBuffer);
  }
}

/**
 * Frees the payload bytes a call moved here, once it has run (SQLite copied them when it bound
 * them). This thread makes little garbage of its own, so its collector runs seldom, and bytes
 * left to it would pile up, a flood's worth, before it did.
 */
export function releaseMoved(call: StoreCall): void {
  const [message] = call.args as [{ payload?: unknown } | undefined];
  const payload = message?.payload;
  if (payload instanceof Uint8Array && payload.buffer instanceof ArrayBuffer && !payload.buffer.detached)
    payload.buffer.transfer(0);
}
