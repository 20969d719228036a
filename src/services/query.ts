import { checkPayload } from './payload-validation.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { DeliverySettings } from '../config.ts';
import { NO_ANSWER, type QueryClient, type QueryResult } from '../delivery/query-client.ts';
import { ApiError, ERRORS } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Destination, Source } from '../models/entities.ts';
import type { AttemptOutcome } from '../models/log.ts';
import { checkMeta, echoMeta } from '../models/meta.ts';
import { dataModelSearchKeys } from '../models/search-keys.ts';
import type { IntakeStore } from '../store/roles/intake-store.ts';
import { newId } from '../lib/ids.ts';

export interface QueryDeps {
  intake: IntakeStore;
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
  rawBody: string | Uint8Array,
  signal: AbortSignal,
): Promise<Json> {
  const check = checkMeta(body);
  if (!check.ok)
    throw new ApiError(check.status === 404 ? 'UNKNOWN_DATA_MODEL' : 'INVALID_FIELD', check.text, {
      echo: check.echo,
    });
  const { meta, dataModel } = check;
  const echo = echoMeta((body as { Meta: Json }).Meta);
  const problems = checkPayload(source, body, dataModel, meta.EventType, echo);
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

  recordQueryLog(deps, {
    source,
    dataModel,
    eventType: meta.EventType,
    test: meta.Test,
    payload: rawBody,
    searchKeys: dataModelSearchKeys(body),
    problems,
    receivedAt,
    destination,
    requestUrl: destination.url,
    logId,
    attemptId,
    result,
    failure: answer.outcome === 'failed' ? answer.reason : null,
    outcome: answer.outcome,
  });

  if (answer.error) throw answer.error;
  return answer.body;
}

/** One query's log and its attempt, as `recordQueryLog` writes them. */
export interface QueryLogEntry {
  source: Source;
  dataModel: string;
  eventType: string;
  test: boolean;
  /** The query as sent: text or its bytes. */
  payload: string | Uint8Array;
  searchKeys: string[];
  /** Validation problems accepted anyway (a `warn` source). */
  problems?: string[];
  receivedAt: number;
  destination: Destination;
  requestUrl: string;
  logId: string;
  attemptId: string;
  result: QueryResult;
  /** Why the query failed, or null. */
  failure: string | null;
  outcome: AttemptOutcome;
}

/**
 * Writes a finished query's `request` log and attempt with the next group commit; the answer does
 * not wait for the fsync (a query is not a durable promise), so the added latency stays small. A
 * failure to write is logged, never turned into the caller's answer.
 */
export function recordQueryLog(deps: QueryDeps, entry: QueryLogEntry): void {
  const { result, failure } = entry;
  deps.intake
    .recordQuery({
      orgId: entry.source.orgId,
      sourceId: entry.source.id,
      dataModel: entry.dataModel,
      eventType: entry.eventType,
      test: entry.test,
      payload: entry.payload,
      searchKeys: entry.searchKeys,
      ...(entry.problems?.length ? { problems: entry.problems } : {}),
      receivedAt: entry.receivedAt,
      log: {
        id: entry.logId,
        destinationId: entry.destination.id,
        status: failure === null ? 'succeeded' : 'failed',
        failedReason: failure,
      },
      attempt: {
        id: entry.attemptId,
        logId: entry.logId,
        number: 1,
        startedAt: entry.receivedAt,
        durationMs: result.durationMs,
        requestUrl: entry.requestUrl,
        statusCode: result.kind === 'answered' ? result.statusCode : null,
        responseExcerpt: result.kind === 'answered' ? result.body.slice(0, deps.excerptBytes) : null,
        error: failure,
        outcome: entry.outcome,
      },
    })
    .catch((error: unknown) =>
      deps.logger.error({ err: error, logId: entry.logId }, 'query: recording the log failed'),
    );
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
