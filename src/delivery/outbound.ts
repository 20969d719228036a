import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Destination } from '../models/entities.ts';
import type { AttemptOutcome } from '../models/log.ts';
import { Deadline } from './deadline.ts';
import { readBody } from './read-body.ts';

export interface OutboundRequest {
  destination: Destination;
  logId: string;
  attemptId: string;
  messageId: number;
  sequence: number;
  receivedAt: number;
  /** Sent byte for byte: the stored payload, as text or as its UTF-8 bytes. */
  body: string | Uint8Array;
  /** Of the body; `application/json` when not given. */
  contentType?: string;
  /** The log's ordering key, sent as `x-switchboard-ordering-key`. */
  orderingKey?: string;
  timeoutMs: number;
  /** Aborted when the engine shuts down; the attempt is then not recorded. */
  signal: AbortSignal;
  now: number;
}

export interface OutboundResult {
  aborted: boolean;
  statusCode: number | null;
  outcome: AttemptOutcome;
  responseExcerpt: string | null;
  error: string | null;
  /** A 429 or 503's `Retry-After`, in ms from the attempt's start: when the receiver asks to be retried. */
  retryAfterMs?: number;
}

/** Largest answer body read to look for `Meta.Errors`; bigger ones are only excerpted. */
const MAX_INSPECTED_BODY = 256 * 1024;

/**
 * Outbound HTTP for deliveries: one pooled undici agent, a hard timeout on every call, the
 * headers of SPEC 3 and a Standard Webhooks signature when the destination has a signing secret.
 */
export class Outbound {
  readonly #agent: Agent;
  readonly #excerptBytes: number;

  constructor(options: { excerptBytes: number }) {
    this.#excerptBytes = options.excerptBytes;
    this.#agent = new Agent({ keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });
  }

  async send(req: OutboundRequest): Promise<OutboundResult> {
    const deadline = new Deadline(req.timeoutMs, req.signal);
    try {
      const response = await request(req.destination.url, {
        method: 'POST',
        headers: deliveryHeaders(req),
        body: req.body,
        signal: deadline.signal,
        dispatcher: this.#agent,
      });
      const text = (await readBody(response.body, MAX_INSPECTED_BODY, 'truncate')) ?? '';
      const excerpt = text.slice(0, this.#excerptBytes);
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      const retryAfterMs =
        response.statusCode === 429 || response.statusCode === 503
          ? parseRetryAfter(response.headers['retry-after'], req.now)
          : undefined;
      return {
        aborted: false,
        statusCode: response.statusCode,
        outcome: ok ? (reportsErrors(text) ? 'warning' : 'succeeded') : 'failed',
        responseExcerpt: excerpt,
        // Kept with the attempt, so the log says why the next one waited.
        error: ok
          ? null
          : `Destination answered ${response.statusCode}` +
            (retryAfterMs === undefined ? '' : `, Retry-After ${Math.ceil(retryAfterMs / 1000)} s`),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    } catch (error) {
      if (req.signal.aborted)
        return {
          aborted: true,
          statusCode: null,
          outcome: 'failed',
          responseExcerpt: null,
          error: 'shutdown',
        };
      const message = deadline.timedOut ? `Timed out after ${req.timeoutMs} ms` : describeNetworkError(error);
      return { aborted: false, statusCode: null, outcome: 'failed', responseExcerpt: null, error: message };
    } finally {
      deadline.clear();
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

export function deliveryHeaders(req: OutboundRequest): Record<string, string> {
  const { destination } = req;
  const headers: Record<string, string> = {
    'content-type': req.contentType ?? 'application/json',
    'user-agent': 'Switchboard',
    'x-switchboard-log-id': req.logId,
    'x-switchboard-attempt-id': req.attemptId,
    'x-switchboard-message-id': String(req.messageId),
    'x-switchboard-sequence': String(req.sequence),
    'x-switchboard-received-at': new Date(req.receivedAt).toISOString(),
  };
  if (req.orderingKey !== undefined)
    headers['x-switchboard-ordering-key'] = encodeURIComponent(req.orderingKey);
  if (destination.verificationToken) {
    headers['verification-token'] = destination.verificationToken;
    headers.authorization = `Bearer ${destination.verificationToken}`;
  }
  if (destination.signingSecret) {
    const timestamp = String(Math.floor(req.now / 1000));
    headers['webhook-id'] = req.logId;
    headers['webhook-timestamp'] = timestamp;
    headers['webhook-signature'] = `v1,${sign(destination.signingSecret, req.logId, timestamp, req.body)}`;
  }
  return headers;
}

/**
 * Standard Webhooks signature: HMAC-SHA256 over `id.timestamp.body`. A secret written as
 * `whsec_<base64>` is used as those bytes, as the Standard Webhooks libraries do; any other
 * secret is used as its UTF-8 bytes.
 */
export function sign(secret: string, id: string, timestamp: string, body: string | Uint8Array): string {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
}

/** A 2xx whose body carries `Meta.Errors` or an error `issue[]` is received with warnings. */
function reportsErrors(text: string): boolean {
  if (!text || (text[0] !== '{' && text.trimStart()[0] !== '{')) return false;
  try {
    const body = JSON.parse(text) as { Meta?: { Errors?: unknown[] }; issue?: { severity?: string }[] };
    if (Array.isArray(body.Meta?.Errors) && body.Meta.Errors.length > 0) return true;
    return (
      Array.isArray(body.issue) && body.issue.some((i) => i.severity === 'error' || i.severity === 'fatal')
    );
  } catch {
    return false;
  }
}

/** One line for a failed outbound call: the system error code and its message. */
export function describeNetworkError(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message ?? e.message ?? String(error);
  return code ? `${code}: ${message}` : message;
}

/**
 * A `Retry-After` header (RFC 9110 10.2.3): delay-seconds, or an HTTP date, read against `now`;
 * undefined when absent or unreadable (a receiver's typo is not a reason to wait).
 */
export function parseRetryAfter(header: string | string[] | undefined, now: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An IMF-fixdate (or one of the obsolete forms): it starts with a day name.
  const at = /^[A-Za-z]{3}/.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
