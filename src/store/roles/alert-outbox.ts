import type { Alert, AlertChannelResult } from '../../models/alert.ts';

/**
 * Alerts are written with the attempt that raised them (`QueueStore.recordAttempt`), an outbox
 * the notifier then sends from.
 */
export interface AlertOutbox {
  /** Alerts raised but not yet sent (e.g. the process died in between), oldest first. */
  unsentAlerts(limit: number): Promise<Alert[]>;
  markAlertSent(alertId: string, channels: AlertChannelResult[], at: number): Promise<void>;
}
