import { Agent, request } from 'undici';
import type { Destination } from '../models/entities.ts';
import { describeNetworkError, sign } from './outbound.ts';
import { Deadline } from './deadline.ts';
import { readBody } from './read-body.ts';

export interface QueryRequest {
  destination: Destination;
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** The log and attempt the call belongs to; a verification handshake has none. */
  logId?: string;
  attemptId?: string;
  messageId?: number;
  timeoutMs: number;
  /** Aborted when the caller hung up: the destination's request is abandoned too. */
  signal?: AbortSignal;
  now: number;
}

export type QueryResult =
  | { kind: 'answered'; statusCode: number; contentType: string; body: string; durationMs: number }
  | { kind: 'timeout' | 'unreachable' | 'too_large' | 'cancelled'; error: string; durationMs: number };

/** How each way of getting no answer is told to the caller, whatever the API's error shape. */
export const NO_ANSWER: Record<Exclude<QueryResult['kind'], 'answered'>, string> = {
  timeout: 'The destination did not answer in time',
  too_large: "The destination's answer is over the payload limit",
  unreachable: 'The destination could not be reached',
  cancelled: 'The caller hung up',
};

/**
 * Outbound HTTP for synchronous queries. It has its own undici pool, apart from asynchronous
 * delivery, so slow queries never hold up deliveries; every call has a hard timeout; an answer
 * over the payload limit is refused while it streams, never buffered whole.
 */
export class QueryClient {
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });
  readonly #maxAnswerBytes: number;

  constructor(options: { maxAnswerBytes: number }) {
    this.#maxAnswerBytes = options.maxAnswerBytes;
  }

  async send(req: QueryRequest): Promise<QueryResult> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    const deadline = new Deadline(req.timeoutMs, req.signal);
    try {
      const response = await request(req.url, {
        method: req.method,
        headers: { ...queryHeaders(req), ...req.headers },
        body: req.body,
        signal: deadline.signal,
        dispatcher: this.#agent,
      });
      const declared = Number(response.headers['content-length']);
      if (declared > this.#maxAnswerBytes) {
        response.body.destroy();
        return {
          kind: 'too_large',
          error: `Answer of ${declared} bytes is over the payload limit`,
          durationMs: elapsed(),
        };
      }
      const body = await readBody(response.body, this.#maxAnswerBytes, 'refuse');
      if (body === undefined)
        return { kind: 'too_large', error: 'Answer is over the payload limit', durationMs: elapsed() };
      const contentType = response.headers['content-type'];
      return {
        kind: 'answered',
        statusCode: response.statusCode,
        contentType: Array.isArray(contentType) ? (contentType[0] ?? '') : (contentType ?? ''),
        body,
        durationMs: elapsed(),
      };
    } catch (error) {
      if (deadline.timedOut)
        return { kind: 'timeout', error: `Timed out after ${req.timeoutMs} ms`, durationMs: elapsed() };
      if (req.signal?.aborted)
        return { kind: 'cancelled', error: 'The caller hung up', durationMs: elapsed() };
      return { kind: 'unreachable', error: describeNetworkError(error), durationMs: elapsed() };
    } finally {
      deadline.clear();
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

function queryHeaders(req: QueryRequest): Record<string, string> {
  const { destination } = req;
  const headers: Record<string, string> = { 'user-agent': 'Switchboard' };
  if (req.logId !== undefined) headers['x-switchboard-log-id'] = req.logId;
  if (req.attemptId !== undefined) headers['x-switchboard-attempt-id'] = req.attemptId;
  if (req.messageId !== undefined) headers['x-switchboard-message-id'] = String(req.messageId);
  if (destination.verificationToken) {
    headers['verification-token'] = destination.verificationToken;
    headers.authorization = `Bearer ${destination.verificationToken}`;
  }
  if (destination.signingSecret && req.body !== undefined && req.logId !== undefined) {
    const timestamp = String(Math.floor(req.now / 1000));
    headers['webhook-id'] = req.logId;
    headers['webhook-timestamp'] = timestamp;
    headers['webhook-signature'] = `v1,${sign(destination.signingSecret, req.logId, timestamp, req.body)}`;
  }
  return headers;
}
