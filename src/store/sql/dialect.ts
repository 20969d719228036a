import type { StoreCapabilities } from '../roles/lifecycle.ts';

/**
 * The few ways the two SQL dialects differ, for the SQL written once in this folder (kysely's
 * dialect adapter is the model). Shared SQL asks the dialect for a fragment instead of
 * branching on the database's name.
 */
export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  /** The larger of two non-null values: SQLite's two-argument `max`, PostgreSQL's `greatest`. */
  greatest(a: string, b: string): string;
  /** The texts of a JSON array bound as text parameter `param`, as a subquery (for `NOT IN`). */
  jsonTexts(param: string): string;
  /** Whether text `needle` occurs in text `haystack`. */
  contains(haystack: string, needle: string): string;
  /**
   * A stored payload (text) as delivery reads it: SQLite hands its bytes over as a blob, so the
   * store thread makes no string of it and can pass the bytes to the main thread without a copy;
   * PostgreSQL's text arrives as a string either way.
   */
  payloadForDelivery(column: string): string;
  /**
   * Appended to a `SELECT` whose rows the transaction will change: row locks, skipping rows
   * another transaction holds. Empty where one writer at a time makes locks moot (SQLite).
   */
  readonly forUpdateSkipLocked: string;
  /** Appended to a `SELECT` whose rows the transaction will change: row locks, waiting for them. */
  readonly forUpdate: string;
  /**
   * A statement that, run first in a transaction, makes transactions with the same `lock` run
   * one after the other; null where every write transaction already does (SQLite).
   */
  transactionLock(lock: TransactionLock): string | null;
}

/** Named start-up steps that several instances may run at once. */
export type TransactionLock = 'migrate' | 'catalog';

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  capabilities: { multipleWriters: false, skipLocked: false, listenNotify: false },
  greatest: (a, b) => `max(${a}, ${b})`,
  jsonTexts: (param) => `(SELECT value FROM json_each(${param}))`,
  contains: (haystack, needle) => `instr(${haystack}, ${needle}) > 0`,
  payloadForDelivery: (column) => `CAST(${column} AS BLOB)`,
  forUpdateSkipLocked: '',
  forUpdate: '',
  transactionLock: () => null,
};

/** Advisory lock keys (class, object) of PostgreSQL's named locks. */
export const PG_LOCKS: Record<TransactionLock | 'exclusive', readonly [number, number]> = {
  migrate: [0x5b0a, 1],
  catalog: [0x5b0a, 2],
  exclusive: [0x5b0a, 3],
};

export const postgresDialect: Dialect = {
  name: 'postgres',
  capabilities: { multipleWriters: true, skipLocked: true, listenNotify: true },
  greatest: (a, b) => `greatest(${a}, ${b})`,
  jsonTexts: (param) => `(SELECT jsonb_array_elements_text(${param}::jsonb))`,
  contains: (haystack, needle) => `strpos(${haystack}, ${needle}) > 0`,
  payloadForDelivery: (column) => column,
  forUpdateSkipLocked: ' FOR UPDATE SKIP LOCKED',
  forUpdate: ' FOR UPDATE',
  transactionLock: (lock) => `SELECT pg_advisory_xact_lock(${PG_LOCKS[lock][0]}, ${PG_LOCKS[lock][1]})`,
};
