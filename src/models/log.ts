/** Log status names follow Redox's logs (SPEC 5.6). */
export type LogStatus = 'pending' | 'succeeded' | 'failed' | 'filtered';
export type LogState = 'queued' | 'processing' | 'retrying';
export type LogType = 'send' | 'request';
export type QueueState = 'active' | 'blocked' | 'paused';
export type AttemptOutcome = 'succeeded' | 'warning' | 'failed';

export interface Log {
  id: string;
  messageId: number;
  transmissionId: number;
  orgId: string;
  type: LogType;
  status: LogStatus;
  state?: LogState;
  sourceId: string;
  destinationId: string | null;
  dataModel: string;
  eventType: string;
  test: boolean;
  sequence: number | null;
  attemptCount: number;
  nextAttemptAt: number | null;
  retryOf: string | null;
  failedReason: string | null;
  /** Its ordering key, when its destination had an `orderingKey` when it was accepted. */
  orderingKey?: string;
  createdAt: number;
  updatedAt: number;
}

export interface Attempt {
  id: string;
  logId: string;
  number: number;
  startedAt: number;
  durationMs: number;
  requestUrl: string;
  statusCode: number | null;
  responseExcerpt: string | null;
  error: string | null;
  outcome: AttemptOutcome;
}

export interface LogDetail {
  log: Log;
  payload: unknown;
  attempts: Attempt[];
  related: Log[];
  /** Validation problems its payload was accepted with (a `warn` source); none otherwise. */
  problems: string[];
}

export interface QueueView {
  destinationId: string;
  state: QueueState;
  depth: number;
  oldestQueuedAt: number | null;
  head: Log | null;
  lastError: { attemptId: string; at: number; statusCode: number | null; error: string | null } | null;
  paused: { by: string; reason: string | null; at: number } | null;
  /** Ordering keys whose head failed and waits for a retry (SPEC 5.2): every other key flows. */
  blockedKeys: {
    count: number;
    oldestBlockedAt: number | null;
    /** The first 50, longest blocked first. */
    keys: BlockedKey[];
  };
}

export interface BlockedKey {
  key: string;
  depth: number;
  blockedSince: number;
  head: Log | null;
  lastError: QueueView['lastError'];
}

export interface LogFilter {
  status?: LogStatus;
  dataModel?: string;
  eventType?: string;
  sourceId?: string;
  destinationId?: string;
  test?: boolean;
  from?: number;
  to?: number;
  messageId?: number;
  /** An identifier, matched against the search keys (`models/search-keys.ts`), or text. */
  q?: string;
  /**
   * How `q` matches: `prefix` (default; a search key equal to it or starting with it), `exact`
   * (a search key equal to it), or `substring` (anywhere in the payload text; needs `from` and
   * `to`, since it reads every payload in that range).
   */
  match?: 'prefix' | 'exact' | 'substring';
}
