/** An alert about a destination's queue (SPEC 5.3, 5.5). */
export interface Alert {
  id: string;
  orgId: string;
  destinationId: string;
  /** The log whose attempts raised it, or whose success ended it. */
  logId: string;
  /** `failing`: a log failed its Nth attempt; `recovered`: the queue delivers again. */
  kind: 'failing' | 'recovered';
  attempts: number;
  /** The last attempt's error or status, for `failing`. */
  error: string | null;
  createdAt: number;
  /** When the notifier finished with it (every channel tried); null while unsent. */
  sentAt: number | null;
  channels: AlertChannelResult[];
}

export interface AlertChannelResult {
  channel: 'email' | 'webhook';
  target: string;
  ok: boolean;
  error: string | null;
}
