import type { Catalog } from '../catalog/catalog.ts';
import type { DeliverySettings } from '../config.ts';
import { NO_ANSWER, type QueryClient, type QueryResult } from '../delivery/query-client.ts';
import { ApiError, ERRORS } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Destination, Source } from '../models/entities.ts';
import type { AttemptOutcome } from '../models/log.ts';
import { checkMeta, echoMeta } from '../models/meta.ts';
import type { Store } from '../store/store.ts';
import { newId } from '../lib/ids.ts';

export interface QueryDeps {
  store: Store;
  catalog: Catalog;
  clock: Clock;
  logger: Logger;
  client: QueryClient;
  settings: DeliverySettings;
  excerptBytes: number;
}

type Json = Record<string, unknown>;

/**
 * A synchronous Data Model query (SPEC 2.2 `/query`, 4): forwarded to exactly one destination
 * while the source waits. Never queued, never retried; every query leaves a `request` log with
 * its attempt.
 */
export async function runQuery(
  deps: QueryDeps,
  source: Source,
  body: unknown,
  rawBody: string,
  signal: AbortSignal,
): Promise<Json> {
  const check = checkMeta(body);
  if (!check.ok)
    throw new ApiError(check.status === 404 ? 'UNKNOWN_DATA_MODEL' : 'INVALID_FIELD', check.text, {
      echo: check.echo,
    });
  const { meta, dataModel } = check;
  const echo = echoMeta((body as { Meta: Json }).Meta);
  const destination = pickDestination(
    deps.catalog,
    source,
    dataModel,
    meta.EventType,
    meta.Destinations,
    echo,
  );
  const logId = newId();
  const attemptId = newId();
  const receivedAt = deps.clock.now();
  const timeoutMs = destination.queryTimeoutMs ?? deps.settings.syncTimeoutMs;
  const result = await deps.client.send({
    destination,
    method: 'POST',
    url: destination.url,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: rawBody,
    logId,
    attemptId,
    timeoutMs,
    signal,
    now: receivedAt,
  });
  const logs = [{ ID: logId, AttemptID: attemptId }];
  const answer = interpret(result, { ...echo, Logs: logs });

  // The log is written with the next group commit; the answer does not wait for the fsync
  // (a query is not a durable promise), so the added latency stays small.
  deps.store
    .recordQuery({
      orgId: source.orgId,
      sourceId: source.id,
      dataModel,
      eventType: meta.EventType,
      test: meta.Test,
      payload: rawBody,
      receivedAt,
      log: {
        id: logId,
        destinationId: destination.id,
        status: answer.outcome === 'failed' ? 'failed' : 'succeeded',
        failedReason: answer.outcome === 'failed' ? answer.reason : null,
      },
      attempt: {
        id: attemptId,
        logId,
        number: 1,
        startedAt: receivedAt,
        durationMs: result.durationMs,
        requestUrl: destination.url,
        statusCode: result.kind === 'answered' ? result.statusCode : null,
        responseExcerpt: result.kind === 'answered' ? result.body.slice(0, deps.excerptBytes) : null,
        error: answer.outcome === 'failed' ? answer.reason : null,
        outcome: answer.outcome,
      },
    })
    .catch((error: unknown) => deps.logger.error({ err: error, logId }, 'query: recording the log failed'));

  if (answer.error) throw answer.error;
  return answer.body;
}

interface Interpretation {
  outcome: AttemptOutcome;
  reason: string;
  body: Json;
  error?: ApiError;
}

function interpret(result: QueryResult, meta: Json): Interpretation {
  if (result.kind !== 'answered') {
    const code =
      result.kind === 'timeout'
        ? 'QUERY_TIMEOUT'
        : result.kind === 'too_large'
          ? 'ANSWER_TOO_LARGE'
          : 'DESTINATION_UNREACHABLE';
    // The answer's size says all; the others say what went wrong on the way.
    const text =
      result.kind === 'too_large' ? NO_ANSWER[result.kind] : `${NO_ANSWER[result.kind]}: ${result.error}`;
    return {
      outcome: 'failed',
      reason: result.error,
      body: {},
      error: new ApiError(code, text, { echo: meta }),
    };
  }
  const parsed = parseObject(result.body);
  const ok = result.statusCode >= 200 && result.statusCode < 300;
  if (ok && parsed) {
    const theirMeta = (typeof parsed.Meta === 'object' && parsed.Meta !== null ? parsed.Meta : {}) as Json;
    const theirErrors = Array.isArray(theirMeta.Errors) ? theirMeta.Errors : [];
    return {
      outcome: theirErrors.length > 0 ? 'warning' : 'succeeded',
      reason: '',
      body: { ...parsed, Meta: { ...theirMeta, Logs: meta.Logs, Errors: theirErrors } },
    };
  }
  // Partial: Switchboard delivered, the destination failed (SPEC 2.2).
  const reason = ok
    ? `Destination answered ${result.statusCode} with a body that is not a JSON object`
    : `Destination answered ${result.statusCode}`;
  const theirErrors = parsed && (parsed.Meta as Json | undefined)?.Errors;
  const details = Array.isArray(theirErrors) ? JSON.stringify(theirErrors) : result.body.slice(0, 4096);
  return {
    outcome: 'failed',
    reason,
    body: {
      Meta: {
        ...meta,
        Errors: [
          {
            ID: ERRORS.DESTINATION_ERROR.id,
            Text: reason,
            Type: 'query',
            Module: ERRORS.DESTINATION_ERROR.module,
            DestinationStatusCode: result.statusCode,
            Details: details,
          },
        ],
      },
    },
  };
}

function parseObject(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** Exactly one destination: named in Meta.Destinations, or the single subscribed one. */
function pickDestination(
  catalog: Catalog,
  source: Source,
  dataModel: string,
  eventType: string,
  explicit: { ID: string }[] | undefined,
  echo: Json,
): Destination {
  if (explicit && explicit.length > 0) {
    const ids = [...new Set(explicit.map((d) => d.ID))];
    if (ids.length > 1)
      throw new ApiError(
        'QUERY_ROUTING',
        `A query goes to exactly one destination; Meta.Destinations names ${ids.length}`,
        {
          echo,
        },
      );
    const id = ids[0] ?? '';
    const destination = catalog.destination(source.orgId, id);
    if (!destination) throw new ApiError('UNKNOWN_DESTINATION', `Destination not found - ${id}`, { echo });
    return destination;
  }
  const subscribed = catalog.subscribers(source, dataModel, eventType);
  const [only] = subscribed;
  if (subscribed.length === 1 && only) return only;
  throw new ApiError(
    'QUERY_ROUTING',
    subscribed.length === 0
      ? `No destination is subscribed to ${dataModel}.${eventType} from this source; name one in Meta.Destinations`
      : `${subscribed.length} destinations are subscribed to ${dataModel}.${eventType}; name one in Meta.Destinations`,
    { echo },
  );
}
