import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Catalog } from '../../catalog/catalog.ts';
import { ApiError } from '../../errors.ts';
import type { Clock } from '../../lib/clock.ts';
import type { LogFilter } from '../../models/log.ts';
import { canonicalDataModel } from '../../models/data-models.ts';
import type { OperatorStore } from '../../store/roles/operator-store.ts';
import { operatorOf, orgOf } from './platform-auth.ts';
import type { OperatorActions } from '../../services/operator-actions.ts';
import { presentLog, presentLogDetail } from './present.ts';
import { parseInput } from '../../lib/parse-input.ts';
import { idParams, pageQuery, platformKey } from '../schemas.ts';

const time = z.union([
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
]);

export const searchQuery = z.strictObject({
  status: z.enum(['pending', 'succeeded', 'failed', 'filtered']).optional(),
  dataModel: z.string().min(1).optional(),
  eventType: z.string().min(1).optional(),
  sourceId: z.string().min(1).optional(),
  destinationId: z.string().min(1).optional(),
  test: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  from: time.optional(),
  to: time.optional(),
  messageId: z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number)
    .optional(),
  q: z.string().min(1).max(1024).optional(),
  match: z.enum(['prefix', 'exact', 'substring']).optional(),
  ...pageQuery.shape,
});

/** The store's filter from a search's parameters, checked and with the data model's canonical name. */
export function logFilter(query: Omit<z.infer<typeof searchQuery>, 'cursor' | 'limit'>): LogFilter {
  const filter: LogFilter = { ...query };
  if (filter.match === 'substring') checkPayloadRange(filter.from, filter.to);
  if (filter.dataModel) filter.dataModel = canonicalDataModel(filter.dataModel) ?? filter.dataModel;
  return filter;
}

/** A payload search reads every payload of its date range: at most this long a range. */
export const PAYLOAD_SEARCH_MAX_RANGE_MS = 7 * 24 * 3_600_000;

function checkPayloadRange(from: number | undefined, to: number | undefined): void {
  if (from === undefined || to === undefined)
    throw new ApiError(
      'INVALID_FIELD',
      'Invalid parameter match: substring reads every payload in a date range; give both from and to',
    );
  if (to - from > PAYLOAD_SEARCH_MAX_RANGE_MS)
    throw new ApiError(
      'INVALID_FIELD',
      'Invalid parameter match: a substring search covers at most 7 days (from to to); search by identifier (q) for longer',
    );
}

export interface PlatformDeps {
  operators: OperatorStore;
  catalog: Catalog;
  clock: Clock;
  onQueueChanged: () => void;
  /** Pause, resume, skip, retry, bulk retry, with their audit entries (shared with the dashboard). */
  actions: OperatorActions;
}

export function logsRoutes(app: FastifyInstance, deps: PlatformDeps): void {
  const { operators, catalog, clock } = deps;

  const tags = ['logs'];
  const search = {
    summary: 'Search logs, newest first, cursor-paged',
    tags,
    security: platformKey,
    querystring: searchQuery,
  };
  app.get('/platform/v1/logs', { schema: search }, async (request) => {
    const { cursor, limit, ...query } = parseInput(searchQuery, request.query);
    const filter = logFilter(query);
    const result = await operators.searchLogs(
      orgOf(request),
      filter,
      { cursor, limit: limit ?? 50 },
      clock.now(),
    );
    return { logs: result.logs.map((l) => presentLog(l, catalog)), nextCursor: result.nextCursor };
  });

  const detail = {
    summary: 'A log with its payload, attempts and related logs',
    tags,
    security: platformKey,
    params: idParams,
  };
  app.get<{ Params: { id: string } }>('/platform/v1/logs/:id', { schema: detail }, async (request) => {
    const detail = await operators.getLog(orgOf(request), request.params.id, clock.now());
    if (!detail) throw new ApiError('NOT_FOUND', 'Log not found');
    return presentLogDetail(detail, catalog);
  });

  const retry = {
    summary: "Retry a log: a linked copy at the back of its destination's queue",
    tags,
    security: platformKey,
    params: idParams,
  };
  app.post<{ Params: { id: string } }>('/platform/v1/logs/:id/retry', { schema: retry }, async (request) => {
    const log = await deps.actions.retry(operatorOf(request), request.params.id);
    return { log: presentLog(log, catalog) };
  });
}
