import type { Catalog } from '../../catalog/catalog.ts';
import type { Attempt, Log, LogDetail, QueueView } from '../../models/log.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** JSON form of a log for the Platform API: ISO times, and the names operators read. */
export function presentLog(log: Log, catalog: Catalog): Record<string, unknown> {
  const source = catalog.source(log.orgId, log.sourceId);
  const destination = log.destinationId ? catalog.destination(log.orgId, log.destinationId) : undefined;
  return {
    id: log.id,
    type: log.type,
    status: log.status,
    ...(log.state ? { state: log.state } : {}),
    messageId: log.messageId,
    transmissionId: log.transmissionId,
    dataModel: log.dataModel,
    eventType: log.eventType,
    test: log.test,
    source: { id: log.sourceId, name: source?.name ?? null },
    destination: log.destinationId ? { id: log.destinationId, name: destination?.name ?? null } : null,
    sequence: log.sequence,
    attemptCount: log.attemptCount,
    nextAttemptAt: iso(log.nextAttemptAt),
    retryOf: log.retryOf,
    failedReason: log.failedReason,
    ...(log.orderingKey === undefined ? {} : { orderingKey: log.orderingKey }),
    createdAt: iso(log.createdAt),
    updatedAt: iso(log.updatedAt),
  };
}

export function presentAttempt(attempt: Attempt): Record<string, unknown> {
  return { ...attempt, startedAt: iso(attempt.startedAt) };
}

export function presentLogDetail(detail: LogDetail, catalog: Catalog): Record<string, unknown> {
  return {
    ...presentLog(detail.log, catalog),
    payload: detail.payload,
    validationProblems: detail.problems,
    attempts: detail.attempts.map(presentAttempt),
    related: detail.related.map((l) => presentLog(l, catalog)),
  };
}

export function presentQueue(queue: QueueView, catalog: Catalog, now: number): Record<string, unknown> {
  return {
    destinationId: queue.destinationId,
    state: queue.state,
    depth: queue.depth,
    oldestQueuedAgeMs: queue.oldestQueuedAt === null ? null : Math.max(0, now - queue.oldestQueuedAt),
    head: queue.head ? presentLog(queue.head, catalog) : null,
    lastError: queue.lastError ? { ...queue.lastError, at: iso(queue.lastError.at) } : null,
    paused: queue.paused ? { ...queue.paused, at: iso(queue.paused.at) } : null,
    blockedKeys: {
      count: queue.blockedKeys.count,
      oldestBlockedAgeMs:
        queue.blockedKeys.oldestBlockedAt === null
          ? null
          : Math.max(0, now - queue.blockedKeys.oldestBlockedAt),
      keys: queue.blockedKeys.keys.map((k) => ({
        key: k.key,
        depth: k.depth,
        blockedSince: iso(k.blockedSince),
        head: k.head ? presentLog(k.head, catalog) : null,
        lastError: k.lastError ? { ...k.lastError, at: iso(k.lastError.at) } : null,
      })),
    },
  };
}
