import type { Alert, AlertChannelResult } from '../../models/alert.ts';
import type { AlertOutbox } from '../roles/alert-outbox.ts';
import type { Page } from '../roles/operator-store.ts';
import { decodeCursor, encodeCursor, toAlert, type AlertRow } from '../rows.ts';
import type { Database } from './database.ts';

/** The alert outbox: rows written with the attempt that raised them, sent by the notifier. */
export class SqlAlertOutbox implements AlertOutbox {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async unsentAlerts(limit: number): Promise<Alert[]> {
    const rows = await this.#db.all<AlertRow>(
      'SELECT * FROM alerts WHERE sent_at IS NULL ORDER BY pk LIMIT :limit',
      {
        limit,
      },
    );
    return rows.map(toAlert);
  }

  async markAlertSent(alertId: string, channels: AlertChannelResult[], at: number): Promise<void> {
    await this.#db.write('UPDATE alerts SET sent_at = :at, channels = :channels WHERE id = :id', {
      id: alertId,
      at,
      channels: JSON.stringify(channels),
    });
  }
}

/** An organization's alerts, newest first, cursor-paged (index `alerts (org_id, pk)`). */
export async function listAlerts(
  db: Database,
  orgId: string,
  page: Page,
): Promise<{ alerts: Alert[]; nextCursor: string | null }> {
  const cursor = page.cursor === undefined ? undefined : (decodeCursor(page.cursor) ?? 0);
  const rows = await db.all<AlertRow>(
    `SELECT * FROM alerts WHERE org_id = :orgId ${cursor === undefined ? '' : 'AND pk < :cursor'}
     ORDER BY pk DESC LIMIT :limit`,
    { orgId, limit: page.limit + 1, cursor },
  );
  const alerts = rows.slice(0, page.limit);
  const last = alerts.at(-1);
  return {
    alerts: alerts.map(toAlert),
    nextCursor: rows.length > page.limit && last ? encodeCursor(Number(last.pk)) : null,
  };
}
