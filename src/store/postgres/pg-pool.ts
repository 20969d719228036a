import pg from 'pg';
import { StoreUnavailableError } from '../../errors.ts';

const INT8_OID = 20;

/**
 * BIGINT columns (times in ms, sequences, IDs) come back as JS numbers: every value Switchboard
 * stores stays far below 2^53, and the rest of the code works in numbers.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

export function createPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // Durable before 200: a commit returns only once its WAL is flushed, whatever the server default.
    options: '-c synchronous_commit=on -c jit=off -c plan_cache_mode=force_generic_plan',
    application_name: 'switchboard',
  });
  // An idle connection that dies (server restart) is dropped from the pool; queries report it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `work` on a connection of its own from `pool`. `work` calls `broken()` when the
 * connection may be left in a bad state (a failed ROLLBACK or unlock): it is then closed rather
 * than handed to the next caller.
 */
export async function withConnection<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, broken: () => void) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw mapError(error);
  }
  let isBroken = false;
  try {
    return await work(client, () => (isBroken = true));
  } finally {
    client.release(isBroken);
  }
}

export function createClient(url: string): pg.Client {
  return new pg.Client({ connectionString: url, types, application_name: 'switchboard-listen' });
}

/** SQLSTATE classes that mean "try the transaction again": serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as { code?: string }).code ?? '');
}

/**
 * Connection-level failures become StoreUnavailableError (answered 503, retried by the
 * delivery engine); anything else is a bug or a constraint and keeps its own error.
 */
export function mapError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (
    code.startsWith('08') ||
    code.startsWith('57P') ||
    code === '53300' ||
    ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE'].includes(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end/.test(
      message,
    )
  )
    return new StoreUnavailableError(`PostgreSQL is unavailable: ${message}`);
  return error;
}

/**
 * PostgreSQL TEXT cannot hold U+0000, which a hostile EventType or a receiver's response body
 * may contain: it is stored as U+FFFD rather than failing the write.
 */
export function clean(values: unknown[]): unknown[] {
  return values.map((value) => (Array.isArray(value) ? value.map(cleanOne) : cleanOne(value)));
}

function cleanOne(value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}
