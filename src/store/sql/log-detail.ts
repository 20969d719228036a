import type { Log, LogDetail } from '../../models/log.ts';
import { toAttempt, toLog, type AttemptRow, type LogRow } from '../rows.ts';
import type { Reader } from './database.ts';
import { LOG_COLUMNS, LOG_FROM } from './log-columns.ts';

/** One log of an organization, by ID (the unique index on `logs.id`). */
export async function logById(
  db: Reader,
  orgId: string,
  logId: string,
  now: number,
): Promise<Log | undefined> {
  const row = await db.get<LogRow>(
    `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE l.id = :logId AND l.org_id = :orgId`,
    {
      logId,
      orgId,
    },
  );
  return row && toLog(row, now);
}

/** A log with its payload, every attempt, and the other logs of its message (retries among them). */
export async function getLog(
  db: Reader,
  orgId: string,
  logId: string,
  now: number,
): Promise<LogDetail | undefined> {
  const log = await logById(db, orgId, logId, now);
  if (!log) return undefined;
  const [message, attempts, related] = await Promise.all([
    db.get<{ payload: string; problems: string | null }>(
      'SELECT payload, problems FROM messages WHERE id = :id',
      {
        id: log.messageId,
      },
    ),
    db.all<AttemptRow>('SELECT * FROM attempts WHERE log_id = :id ORDER BY number', { id: log.id }),
    db.all<LogRow>(
      `SELECT ${LOG_COLUMNS} FROM ${LOG_FROM} WHERE l.message_id = :messageId AND l.id <> :id ORDER BY l.pk`,
      {
        messageId: log.messageId,
        id: log.id,
      },
    ),
  ]);
  return {
    log,
    payload: JSON.parse(message!.payload) as unknown,
    problems: message?.problems ? (JSON.parse(message.problems) as string[]) : [],
    attempts: attempts.map(toAttempt),
    related: related.map((r) => toLog(r, now)),
  };
}
