import type { Catalog } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';
import type { Destination, Source } from '../models/entities.ts';
import { DESTINATION_STATUS_EXTENSION, operationOutcome, type OperationOutcome } from '../models/fhir.ts';
import { fhirQuerySearchKeys, fhirResourceSearchKeys } from '../models/search-keys.ts';
import { recordQueryLog, type QueryDeps } from './query.ts';
import { NO_ANSWER } from '../delivery/query-client.ts';
import { newId } from '../lib/ids.ts';

export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT';
  resourceType: string;
  /** A search (`GET {type}?…` or `_search`), a read, or a write-through create or update. */
  operation:
    { kind: 'search' } | { kind: 'read'; id: string } | { kind: 'create' } | { kind: 'update'; id: string };
  /** The raw query string, passed through unchanged. */
  search: string;
  /** A POST `_search`'s form, or a create's or update's resource (JSON), passed through unchanged. */
  body?: string;
  /** `x-switchboard-destination`: picks the destination explicitly. */
  destinationId?: string;
}

export interface FhirAnswer {
  status: number;
  contentType: string;
  body: string | OperationOutcome;
}

/**
 * FHIR R4 reads and searches (SPEC 2.3, the query half), proxied to the destination's FHIR base
 * URL. Search parameters go through unchanged; the destination's Bundle or resource comes back;
 * its errors come back as an OperationOutcome carrying its status.
 */
export async function runFhirQuery(
  deps: QueryDeps,
  source: Source,
  req: FhirRequest,
  signal: AbortSignal,
): Promise<FhirAnswer> {
  const { destination, fhirBaseUrl } = pickFhirDestination(deps.catalog, source, req.destinationId);
  const base = fhirBaseUrl.replace(/\/+$/, '');
  const query = req.search ? `?${req.search}` : '';
  const { operation } = req;
  const url =
    operation.kind === 'read' || operation.kind === 'update'
      ? `${base}/${req.resourceType}/${encodeURIComponent(operation.id)}${query}`
      : operation.kind === 'search' && req.method === 'POST'
        ? `${base}/${req.resourceType}/_search${query}`
        : `${base}/${req.resourceType}${query}`;
  const writes = operation.kind === 'create' || operation.kind === 'update';
  const logId = newId();
  const attemptId = newId();
  const receivedAt = deps.clock.now();
  const result = await deps.client.send({
    destination,
    method: req.method,
    url,
    headers: {
      accept: 'application/fhir+json',
      ...(writes
        ? { 'content-type': 'application/fhir+json' }
        : req.method === 'POST'
          ? { 'content-type': 'application/x-www-form-urlencoded' }
          : {}),
    },
    body: req.method === 'GET' ? undefined : (req.body ?? ''),
    logId,
    attemptId,
    timeoutMs: destination.queryTimeoutMs ?? deps.settings.syncTimeoutMs,
    signal,
    now: receivedAt,
  });

  let answer: FhirAnswer;
  let failure: string | null = null;
  if (result.kind !== 'answered') {
    failure = result.error;
    const status = result.kind === 'timeout' ? 504 : 502;
    const code =
      result.kind === 'timeout' ? 'timeout' : result.kind === 'too_large' ? 'too-long' : 'transient';
    answer = {
      status,
      contentType: 'application/fhir+json',
      body: operationOutcome('error', code, NO_ANSWER[result.kind], result.error),
    };
  } else if (result.statusCode >= 200 && result.statusCode < 300) {
    answer = {
      status: result.statusCode,
      contentType: result.contentType || 'application/fhir+json',
      body: result.body,
    };
  } else {
    failure = `Destination answered ${result.statusCode}`;
    answer = {
      status: result.statusCode,
      contentType: 'application/fhir+json',
      body: destinationOutcome(result.statusCode, result.body),
    };
  }

  recordQueryLog(deps, {
    source,
    dataModel: 'FHIR',
    eventType: `${req.resourceType}.${req.operation.kind}`,
    test: false,
    payload: JSON.stringify({ method: req.method, url, body: req.body ?? null }),
    searchKeys: writes
      ? fhirResourceSearchKeys(JSON.parse(req.body ?? 'null'))
      : fhirQuerySearchKeys({
          search: req.search,
          body: req.body,
          id: operation.kind === 'read' ? operation.id : undefined,
        }),
    receivedAt,
    destination,
    requestUrl: url,
    logId,
    attemptId,
    result,
    failure,
    outcome: failure ? 'failed' : 'succeeded',
  });
  return answer;
}

/** The destination's own OperationOutcome (or its text), with its HTTP status attached. */
function destinationOutcome(status: number, body: string): OperationOutcome {
  let outcome: OperationOutcome | undefined;
  try {
    const parsed = JSON.parse(body) as Partial<OperationOutcome>;
    if (parsed.resourceType === 'OperationOutcome' && Array.isArray(parsed.issue))
      outcome = { ...parsed, resourceType: 'OperationOutcome', issue: parsed.issue };
  } catch {
    // Not JSON: its text becomes the diagnostics below.
  }
  outcome ??= operationOutcome(
    'error',
    'exception',
    `Destination answered ${status}`,
    body.slice(0, 4096) || undefined,
  );
  return {
    ...outcome,
    extension: [...(outcome.extension ?? []), { url: DESTINATION_STATUS_EXTENSION, valueInteger: status }],
  };
}

/**
 * The destination of a FHIR query: the one named by `x-switchboard-destination`; else the
 * single FHIR-capable destination this source is subscribed to; else the organization's single
 * FHIR-capable destination.
 */
function pickFhirDestination(
  catalog: Catalog,
  source: Source,
  explicit: string | undefined,
): { destination: Destination; fhirBaseUrl: string } {
  if (explicit) {
    const destination = catalog.destination(source.orgId, explicit);
    if (!destination?.fhirBaseUrl)
      throw new ApiError('UNKNOWN_DESTINATION', `FHIR destination not found - ${explicit}`);
    return { destination, fhirBaseUrl: destination.fhirBaseUrl };
  }
  const fhir = catalog.destinationsOf(source.orgId).filter((d) => d.fhirBaseUrl);
  const subscribed = new Set(catalog.subscribedDestinationIds(source));
  const candidates = fhir.filter((d) => subscribed.has(d.id));
  const pool = candidates.length > 0 ? candidates : fhir;
  const [only] = pool;
  if (pool.length === 1 && only?.fhirBaseUrl) return { destination: only, fhirBaseUrl: only.fhirBaseUrl };
  throw new ApiError(
    'QUERY_ROUTING',
    pool.length === 0
      ? 'No destination with a FHIR base URL is configured for this source'
      : 'Several FHIR destinations are possible; name one in the x-switchboard-destination header',
  );
}
