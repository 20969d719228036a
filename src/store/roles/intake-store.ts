import type { Attempt, LogType } from '../../models/log.ts';

/** Writing what sources send: asynchronous messages and the records of synchronous queries. */
export interface IntakeStore {
  /**
   * Stores a message, its logs and its search keys atomically, assigning per-destination
   * sequence numbers; resolves only once durably committed. With an idempotency key, a key
   * already used by the same source (newer than `since`) stores nothing and returns the first
   * answer, or a conflict when the fingerprint differs.
   */
  acceptMessage(message: NewMessage): Promise<AcceptResult>;
  /**
   * Records a finished synchronous query: its message, its one `request` log and the attempt.
   * It may be committed a little later (tens of milliseconds) together with other writes.
   */
  recordQuery(query: QueryRecord): Promise<void>;
}

export interface NewLog {
  id: string;
  destinationId: string | null;
  status: 'pending' | 'filtered';
  firstAttemptId: string | null;
  failedReason?: string;
  /** The log's ordering key, when its destination has an `orderingKey` ('' for no value). */
  orderingKey?: string;
}

/** What every stored message has: an asynchronous one or a query's. */
export interface MessageFields {
  orgId: string;
  sourceId: string;
  dataModel: string;
  eventType: string;
  test: boolean;
  /**
   * The payload as JSON text, stored as received: a string, or its UTF-8 bytes (what crosses to
   * the embedded store's thread, moved there without a copy).
   */
  payload: string | Uint8Array;
  /** Identifiers that find this message in a log search (`models/search-keys.ts`), normalized. */
  searchKeys: string[];
  receivedAt: number;
  /** Validation problems of a payload accepted anyway (a `warn` source), kept with the message. */
  problems?: string[];
}

export interface NewMessage extends MessageFields {
  type: LogType;
  logs: NewLog[];
  idempotency?: {
    key: string;
    /** Digest of the request body: the same key with another body is a conflict. */
    fingerprint: string;
    /** Keys created before this time are expired and forgotten. */
    since: number;
    /** What to remember of the first answer (opaque to the store), kept with the message's IDs. */
    answer: string;
  };
}

export type AcceptResult =
  | ({ kind: 'accepted' } & AcceptedMessage)
  | { kind: 'replayed'; answer: string; messageId: number; transmissionId: number }
  | { kind: 'conflict' };

export interface AcceptedMessage {
  messageId: number;
  transmissionId: number;
  logs: { id: string; destinationId: string | null; sequence: number | null }[];
}

export interface QueryRecord extends MessageFields {
  log: { id: string; destinationId: string; status: 'succeeded' | 'failed'; failedReason: string | null };
  attempt: Attempt;
}
