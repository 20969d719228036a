import { checkPayload } from './payload-validation.ts';
import type { Catalog } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import type { Destination, Source } from '../models/entities.ts';
import { checkMeta, echoMeta } from '../models/meta.ts';
import { dataModelSearchKeys } from '../models/search-keys.ts';
import type { IntakeStore, NewLog } from '../store/roles/intake-store.ts';
import { storeMessage } from './store-message.ts';

export interface AcceptDeps {
  intake: IntakeStore;
  catalog: Catalog;
  clock: Clock;
  /** Called after each new message's commit (not for a replay): wakes delivery, counts it. */
  /** Told of each stored message, with the destinations it queued logs for. */
  onAccepted: (source: Source, destinationIds: string[]) => void;
  idempotencyWindowMs: number;
}

/**
 * Accepts one asynchronous message (SPEC 2.2 `/endpoint`): validates Meta, routes it, stores the
 * message with one log per destination in one durable transaction, and builds the answer.
 * Fan-out is decided here, when the data is written; delivery only delivers.
 */
export async function acceptMessage(
  deps: AcceptDeps,
  source: Source,
  request: { body: unknown; rawBody: string | Uint8Array; idempotencyKey?: string },
): Promise<{ json: string; replayed: boolean }> {
  const check = checkMeta(request.body);
  if (!check.ok)
    throw new ApiError(check.status === 404 ? 'UNKNOWN_DATA_MODEL' : 'INVALID_FIELD', check.text, {
      echo: check.echo,
    });
  const { meta, dataModel } = check;
  const problems = checkPayload(
    source,
    request.body,
    dataModel,
    meta.EventType,
    echoMeta((request.body as { Meta: Record<string, unknown> }).Meta),
  );
  const echo = (request.body as { Meta: Record<string, unknown> }).Meta;
  const destinations = route(deps.catalog, source, dataModel, meta.EventType, meta.Destinations, echo);
  // Everything of the answer but the IDs the store assigns; kept with an idempotency key.
  const answer = (logs: NewLog[]): string =>
    JSON.stringify({
      head: {
        DataModel: meta.DataModel,
        EventType: meta.EventType,
        ...(meta.EventDateTime !== undefined ? { EventDateTime: meta.EventDateTime } : {}),
        Test: meta.Test,
        Source: { ID: source.id, Name: source.name },
        Destinations: destinations.map((d) => ({ ID: d.id, Name: d.name })),
      },
      tail: { Logs: logs.map((l) => ({ ID: l.id, AttemptID: l.firstAttemptId })), Errors: [] },
    } satisfies AnswerParts);
  const stored = await storeMessage(deps, source, {
    dataModel,
    eventType: meta.EventType,
    test: meta.Test,
    rawBody: request.rawBody,
    payload: request.body,
    searchKeys: dataModelSearchKeys(request.body),
    problems,
    destinations,
    ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    answer,
    echo: { DataModel: meta.DataModel, EventType: meta.EventType },
  });
  return { json: render(JSON.parse(stored.answer) as AnswerParts, stored), replayed: stored.replayed };
}

interface AnswerParts {
  head: Record<string, unknown>;
  tail: Record<string, unknown>;
}

function render(parts: AnswerParts, ids: { messageId: number; transmissionId: number }): string {
  return JSON.stringify({
    Meta: {
      ...parts.head,
      Message: { ID: ids.messageId },
      Transmission: { ID: ids.transmissionId },
      ...parts.tail,
    },
  });
}

/**
 * Explicit `Meta.Destinations` must each be a destination of the source's organization (else
 * 404, without saying whether it exists elsewhere); without them, the subscriptions decide.
 */
function route(
  catalog: Catalog,
  source: Source,
  dataModel: string,
  eventType: string,
  explicit: { ID: string }[] | undefined,
  echo: Record<string, unknown>,
): Destination[] {
  if (!explicit || explicit.length === 0) return catalog.subscribers(source, dataModel, eventType);
  const destinations = new Map<string, Destination>();
  for (const { ID } of explicit) {
    const destination = catalog.destination(source.orgId, ID);
    if (!destination)
      throw new ApiError('UNKNOWN_DESTINATION', `Destination not found - ${ID}`, {
        echo: { DataModel: echo.DataModel, EventType: echo.EventType },
      });
    destinations.set(destination.id, destination);
  }
  return [...destinations.values()];
}
