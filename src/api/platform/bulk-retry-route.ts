import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toApiError } from '../error-handler.ts';
import { platformKey } from '../schemas.ts';
import { logFilter, searchQuery, type PlatformDeps } from './logs-routes.ts';
import { operatorOf, orgOf } from './platform-auth.ts';
import { parseInput } from '../../lib/parse-input.ts';

const bulkQuery = searchQuery.omit({ cursor: true, limit: true }).extend({
  dryRun: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});

/**
 * `POST /platform/v1/logs/retry?<the log search's filters>` (SPEC 6): retries every matching
 * log, oldest first. `dryRun=true` answers how many would be retried. Otherwise the answer is
 * streamed as the pages are committed, `{"logs": [{"id", "retryOf"}, ...], "count": n}`: a
 * million IDs are not held in memory. If the store fails part-way, the pages already committed
 * stay retried and the answer ends with `"error"` saying so (its status was sent with the first
 * page).
 */
export function bulkRetryRoute(app: FastifyInstance, deps: PlatformDeps): void {
  const schema = {
    summary: 'Retry every log a search matches, in their original order',
    tags: ['logs'],
    security: platformKey,
    querystring: bulkQuery,
  };
  app.post('/platform/v1/logs/retry', { schema }, async (request, reply) => {
    const { dryRun, ...query } = parseInput(bulkQuery, request.query);
    const filter = logFilter(query);
    const orgId = orgOf(request);
    const upTo = await deps.operators.logMark();
    if (dryRun) return { dryRun: true, count: await deps.operators.countRetriable(orgId, filter, upTo) };
    const pages = deps.actions.retryAll(operatorOf(request), filter);
    // The first page runs before the answer starts, so an error there is an ordinary error answer.
    const first = await pages.next();
    async function* body(): AsyncGenerator<string> {
      let count = 0;
      let separator = '';
      yield '{"logs":[';
      try {
        for (let page = first; !page.done; page = await pages.next()) {
          for (const log of page.value) {
            yield `${separator}${JSON.stringify(log)}`;
            separator = ',';
          }
          count += page.value.length;
        }
        yield `],"count":${count}}`;
      } catch (error) {
        const { code, message } = toApiError(error as Error, request.url);
        yield `],"count":${count},"error":${JSON.stringify({ code, message: `stopped after ${count}: ${message}` })}}`;
      }
    }
    return reply.type('application/json').send(Readable.from(body()));
  });
}
