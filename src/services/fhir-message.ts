import { FHIR_DATA_MODEL } from '../catalog/schemas.ts';
import { ApiError } from '../errors.ts';
import type { Destination, Source } from '../models/entities.ts';
import type { OperationOutcome } from '../models/fhir.ts';
import { fhirResourceSearchKeys } from '../models/search-keys.ts';
import type { AcceptDeps } from './accept.ts';
import { storeMessage } from './store-message.ts';
import { validateFhir } from '../models/fhir-validation.ts';
import { isObject } from '../models/meta.ts';

/** Issues answered for one Bundle, at most (as for Data Model payloads). */
const MAX_ISSUES = 20;

type Json = Record<string, unknown>;

/** Refuses a Bundle that is not a FHIR message, naming the element (400, OperationOutcome). */
function refuse(problems: [expression: string, text: string][]): never {
  throw new ApiError('INVALID_FIELD', problems[0]?.[1] ?? 'Invalid Bundle', {
    texts: problems.map(([, text]) => text),
    expressions: problems.map(([expression]) => expression),
  });
}

/** The Bundle's MessageHeader, when it is a message Bundle with one first. */
function messageHeader(bundle: unknown): Json {
  if (!isObject(bundle) || bundle.resourceType !== 'Bundle')
    refuse([['Bundle.resourceType', 'The body must be a Bundle']]);
  const problems: [string, string][] = [];
  if (bundle.type !== 'message') problems.push(['Bundle.type', 'A message Bundle has type "message"']);
  const entries = bundle.entry;
  const first = Array.isArray(entries) && isObject(entries[0]) ? entries[0].resource : undefined;
  if (!isObject(first) || first.resourceType !== 'MessageHeader')
    problems.push(['Bundle.entry[0].resource', 'The first entry of a message Bundle is its MessageHeader']);
  else if (!isObject(first.eventCoding) && typeof first.eventUri !== 'string')
    problems.push(['Bundle.entry[0].resource.event[x]', 'The MessageHeader needs eventCoding or eventUri']);
  if (problems.length > 0) refuse(problems);
  return first as Json;
}

/** The keys a `fhirEvents` subscription may name this event by: `system|code`, `code`, or the URI. */
export function eventKeys(header: Json): string[] {
  const keys: string[] = [];
  if (isObject(header.eventCoding)) {
    const { system, code } = header.eventCoding;
    if (typeof code === 'string') {
      if (typeof system === 'string') keys.push(`${system}|${code}`);
      keys.push(code);
    }
  }
  if (typeof header.eventUri === 'string') keys.push(header.eventUri);
  return keys;
}

/**
 * `Bundle/$process-message` (SPEC 2.3): a FHIR message, stored and delivered like `/endpoint`'s
 * (the same durable per-destination queues, logs, retries, alerts, idempotency and search keys),
 * routed by `MessageHeader.destination[].endpoint` (or `.name`) naming destination IDs, else by
 * the subscriptions whose `fhirEvents` name its event. Answers an informational OperationOutcome
 * naming the logs.
 */
export async function acceptFhirMessage(
  deps: AcceptDeps,
  source: Source,
  request: { body: unknown; rawBody: string | Uint8Array; idempotencyKey?: string },
): Promise<{ outcome: OperationOutcome; replayed: boolean }> {
  const header = messageHeader(request.body);
  const problems = await validateFhir(request.body);
  if (problems.length > 0)
    refuse(problems.slice(0, MAX_ISSUES).map((p): [string, string] => [p.expression ?? 'Bundle', p.text]));
  const keys = eventKeys(header);
  const destinations = route(deps, source, header, keys);
  const stored = await storeMessage(deps, source, {
    dataModel: FHIR_DATA_MODEL,
    eventType: keys[0] ?? 'unknown',
    test: false,
    rawBody: request.rawBody,
    payload: request.body,
    searchKeys: fhirResourceSearchKeys(request.body),
    destinations,
    ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    answer: (logs) => {
      const ids = logs.map((l) => l.id);
      const text =
        destinations.length > 0
          ? `Accepted for ${destinations.map((d) => d.id).join(', ')}: logs ${ids.join(', ')}`
          : `Accepted; no subscription matched its event: log ${ids.join(', ')}`;
      const outcome: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: [
          { severity: 'information', code: 'informational', details: { text }, diagnostics: ids.join(',') },
        ],
      };
      return JSON.stringify(outcome);
    },
    echo: {},
  });
  return { outcome: JSON.parse(stored.answer) as OperationOutcome, replayed: stored.replayed };
}

function route(deps: AcceptDeps, source: Source, header: Json, keys: string[]): Destination[] {
  const named = Array.isArray(header.destination)
    ? header.destination.flatMap((d) => {
        if (!isObject(d)) return [];
        const id =
          typeof d.endpoint === 'string' ? d.endpoint : typeof d.name === 'string' ? d.name : undefined;
        return id === undefined ? [] : [id];
      })
    : [];
  const found = new Map<string, Destination>();
  if (named.length > 0) {
    for (const id of named) {
      const destination = deps.catalog.destination(source.orgId, id);
      // Whether it exists in another organization is not said.
      if (!destination) throw new ApiError('UNKNOWN_DESTINATION', `Destination not found - ${id}`);
      found.set(destination.id, destination);
    }
    return [...found.values()];
  }
  for (const key of keys)
    for (const destination of deps.catalog.subscribers(source, FHIR_DATA_MODEL, key))
      found.set(destination.id, destination);
  return [...found.values()];
}
