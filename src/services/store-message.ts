import { createHash } from 'node:crypto';
import { ApiError } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import type { Destination, Source } from '../models/entities.ts';
import type { NewLog } from '../store/roles/intake-store.ts';
import type { AcceptDeps } from './accept.ts';
import { orderingKeyOf } from '../models/ordering-key.ts';

/** A message once routed: what `storeMessage` writes for both the Data Model and FHIR APIs. */
export interface RoutedMessage {
  dataModel: string;
  eventType: string;
  test: boolean;
  /** The payload as received (text or bytes), stored and delivered byte for byte. */
  rawBody: string | Uint8Array;
  /** The same, parsed: where destinations' ordering keys are read from. */
  payload: unknown;
  searchKeys: string[];
  problems?: string[];
  destinations: Destination[];
  idempotencyKey?: string;
  /** The answer, but for the IDs the store assigns (kept with an idempotency key). */
  answer: (logs: NewLog[]) => string;
  /** Meta fields an idempotency conflict's answer echoes. */
  echo: Record<string, unknown>;
}

export interface StoredMessage {
  /** The answer `answer()` made, or the first one when this is an idempotent replay. */
  answer: string;
  messageId: number;
  transmissionId: number;
  replayed: boolean;
}

/**
 * Stores a routed message with one log per destination (or one `filtered` log) in one durable
 * transaction; with an idempotency key, a repeat within the window answers the first answer and
 * stores nothing. Fan-out is decided here, when the data is written; delivery only delivers.
 */
export async function storeMessage(
  deps: AcceptDeps,
  source: Source,
  message: RoutedMessage,
): Promise<StoredMessage> {
  const logs: NewLog[] =
    message.destinations.length > 0
      ? message.destinations.map((d) => ({
          id: newId(),
          destinationId: d.id,
          status: 'pending',
          firstAttemptId: newId(),
          ...(d.orderingKey === undefined
            ? {}
            : { orderingKey: orderingKeyOf(d.orderingKey, message.payload) }),
        }))
      : [
          {
            id: newId(),
            destinationId: null,
            status: 'filtered',
            firstAttemptId: null,
            failedReason: 'No subscription matched this source, data model and event type',
          },
        ];
  const answer = message.answer(logs);
  const now = deps.clock.now();
  const result = await deps.intake.acceptMessage({
    orgId: source.orgId,
    sourceId: source.id,
    type: 'send',
    dataModel: message.dataModel,
    eventType: message.eventType,
    test: message.test,
    payload: message.rawBody,
    searchKeys: message.searchKeys,
    ...(message.problems?.length ? { problems: message.problems } : {}),
    receivedAt: now,
    logs,
    idempotency:
      message.idempotencyKey === undefined
        ? undefined
        : {
            key: message.idempotencyKey,
            fingerprint: createHash('sha256').update(message.rawBody).digest('base64url'),
            since: now - deps.idempotencyWindowMs,
            answer,
          },
  });
  if (result.kind === 'conflict')
    throw new ApiError('IDEMPOTENCY_CONFLICT', 'Idempotency-Key was already used with a different body', {
      echo: message.echo,
    });
  if (result.kind === 'replayed')
    return {
      answer: result.answer,
      messageId: result.messageId,
      transmissionId: result.transmissionId,
      replayed: true,
    };
  deps.onAccepted(
    source,
    message.destinations.map((d) => d.id),
  );
  return { answer, messageId: result.messageId, transmissionId: result.transmissionId, replayed: false };
}
