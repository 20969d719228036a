import type { Log, LogFilter } from '../../models/log.ts';
import { normalizeSearchKey } from '../../models/search-keys.ts';
import type { Page } from '../roles/operator-store.ts';
import { toLog, type LogRow } from '../rows.ts';
import type { Database, SqlValue } from './database.ts';
import { LOG_COLUMNS, LOG_FROM } from './log-columns.ts';

/** After the largest code point, for the upper bound of a prefix range. */
const PAST_PREFIX = '\u{10FFFF}';

/**
 * A key matching at most this many messages is searched from the keys; one matching more (a
 * short prefix) from the newest logs, checking each against the keys.
 */
export const KEY_CANDIDATES = 5_000;

/**
 * The log search, newest first (`created_at`, then insertion order), on the index `logs
 * (org_id, created_at, pk)`: a page costs the rows it shows plus those the filters skip, and a
 * date range bounds the walk. `match: 'substring'` reads the payloads of the date range.
 *
 * `q` is matched against `search_keys`, whichever way reads fewer rows: a key with up to
 * `KEY_CANDIDATES` messages (an identifier, or a long prefix) is walked in the keys' index and
 * only its messages' logs are read (`CROSS JOIN` keeps that order on SQLite, whose planner would
 * otherwise be free to walk the logs instead); a broader one walks the newest logs and looks
 * each one's message up in the keys, which finds a page quickly precisely because so many
 * match. A capped count of the key range tells them apart.
 */
export async function searchLogs(
  db: Database,
  orgId: string,
  filter: LogFilter,
  page: Page,
  now: number,
): Promise<{ logs: Log[]; nextCursor: string | null }> {
  const { from, where, params } = await matching(db, orgId, filter, page.upTo);
  params.limit = page.limit + 1;
  const oldestFirst = page.order === 'oldest';
  if (page.cursor !== undefined) {
    const cursor = decodeLogCursor(page.cursor) ?? { createdAt: Number.MIN_SAFE_INTEGER, pk: 0 };
    where.push(`(l.created_at, l.pk) ${oldestFirst ? '>' : '<'} (:cursorAt, :cursorPk)`);
    params.cursorAt = cursor.createdAt;
    params.cursorPk = cursor.pk;
  }
  const direction = oldestFirst ? 'ASC' : 'DESC';
  const rows = await db.all<LogRow>(
    `SELECT ${LOG_COLUMNS} FROM ${from} WHERE ${where.join(' AND ')}
     ORDER BY l.created_at ${direction}, l.pk ${direction} LIMIT :limit`,
    params,
  );
  const more = rows.length > page.limit;
  const logs = rows.slice(0, page.limit);
  const last = logs.at(-1);
  return {
    logs: logs.map((r) => toLog(r, now)),
    nextCursor: more && last ? encodeLogCursor(Number(last.created_at), Number(last.pk)) : null,
  };
}

/** How many logs with a destination the filter matches (a bulk retry's dry run): it reads every match. */
export async function countRetriable(
  db: Database,
  orgId: string,
  filter: LogFilter,
  upTo?: string,
): Promise<number> {
  const { from, where, params } = await matching(db, orgId, filter, upTo);
  where.push('l.destination_id IS NOT NULL');
  const [row] = await db.all<{ n: number }>(
    `SELECT count(*) AS n FROM ${from} WHERE ${where.join(' AND ')}`,
    params,
  );
  return Number(row?.n ?? 0);
}

/** The FROM and WHERE of the logs `filter` matches, and their parameters. */
async function matching(
  db: Database,
  orgId: string,
  filter: LogFilter,
  upTo?: string,
): Promise<{ from: string; where: string[]; params: Record<string, SqlValue> }> {
  const where = ['l.org_id = :orgId'];
  const params: Record<string, SqlValue> = { orgId };
  if (upTo !== undefined) {
    where.push('l.pk <= :upTo');
    params.upTo = decodeLogMark(upTo);
  }
  const add = (condition: string, name: string, value: SqlValue | undefined): void => {
    if (value === undefined) return;
    where.push(condition);
    params[name] = value;
  };
  add('l.status = :status', 'status', filter.status);
  add('l.data_model = :dataModel', 'dataModel', filter.dataModel);
  add('l.event_type = :eventType', 'eventType', filter.eventType);
  add('l.source_id = :sourceId', 'sourceId', filter.sourceId);
  add('l.destination_id = :destinationId', 'destinationId', filter.destinationId);
  add('l.test = :test', 'test', filter.test);
  add('l.message_id = :messageId', 'messageId', filter.messageId);
  add('l.created_at >= :from', 'from', filter.from);
  add('l.created_at <= :to', 'to', filter.to);
  if (filter.q === undefined) return { from: LOG_FROM, where, params };
  if (filter.match === 'substring') {
    add(
      db.dialect.contains('(SELECT m.payload FROM messages m WHERE m.id = l.message_id)', ':q'),
      'q',
      filter.q,
    );
    return { from: LOG_FROM, where, params };
  }
  const key = normalizeSearchKey(filter.q);
  params.key = key;
  params.keyEnd = key + PAST_PREFIX;
  params.candidates = KEY_CANDIDATES;
  const match = filter.match === 'exact' ? 's.key = :key' : 's.key >= :key AND s.key < :keyEnd';
  // An ordered walk of the keys' index, stopped at the cap, whatever the planner estimates.
  const keyed = `SELECT s.message_id FROM search_keys s WHERE s.org_id = :orgId AND ${match}
    ORDER BY s.key, s.message_id LIMIT :candidates`;
  const [counted] = await db.all<{ n: number }>(`SELECT count(*) AS n FROM (${keyed}) c`, params);
  if (Number(counted?.n ?? 0) < KEY_CANDIDATES) {
    where.push('l.message_id = k.message_id');
    return {
      from: `(SELECT DISTINCT c.message_id FROM (${keyed}) c) k CROSS JOIN ${LOG_FROM}`,
      where,
      params,
    };
  }
  // A scalar subquery, not EXISTS: PostgreSQL would turn EXISTS into a join over every match.
  where.push(`(SELECT s.message_id FROM search_keys s WHERE s.message_id = l.message_id AND s.org_id = :orgId
    AND ${match} LIMIT 1) IS NOT NULL`);
  return { from: LOG_FROM, where, params };
}

/**
 * A mark of every log stored so far: the highest `pk`. Logs are numbered as they are stored, so
 * a walk bounded by it never meets a log stored after it (a bulk retry's own copies).
 */
export async function logMark(db: Database): Promise<string> {
  const row = await db.get<{ pk: number | null }>('SELECT max(pk) AS pk FROM logs');
  return Buffer.from(`m:${Number(row?.pk ?? 0)}`).toString('base64url');
}

function decodeLogMark(mark: string): number {
  const match = /^m:(\d{1,16})$/.exec(Buffer.from(mark, 'base64url').toString());
  return match ? Number(match[1]) : 0;
}

/** Cursors are opaque to clients; inside they are the last log's place in the order. */
export function encodeLogCursor(createdAt: number, pk: number): string {
  return Buffer.from(`t:${createdAt}:${pk}`).toString('base64url');
}

export function decodeLogCursor(cursor: string): { createdAt: number; pk: number } | undefined {
  const match = /^t:(-?\d{1,16}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  return match ? { createdAt: Number(match[1]), pk: Number(match[2]) } : undefined;
}
