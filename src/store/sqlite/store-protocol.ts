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
export const LIFECYCLE_METHODS = ['migrate', 'ping', 'probeWrite', 'close'] as const;

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
