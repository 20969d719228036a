import type { FastifyInstance, FastifyReply } from 'fastify';
import { sourceOf, type SourceAuth } from './auth/bearer.ts';
import { runQuery, type QueryDeps } from '../services/query.ts';
import { dataModelMessage, sourceToken } from './schemas.ts';

/** `POST /query`: synchronous Data Model query (SPEC 2.2, 4). */
export function queryRoute(app: FastifyInstance, deps: QueryDeps & { authenticate: SourceAuth }): void {
  const schema = {
    summary: 'A synchronous query to exactly one destination (Data Model API)',
    tags: ['data-model'],
    security: sourceToken,
    body: dataModelMessage,
  };
  app.post('/query', { preHandler: deps.authenticate, schema }, async (request, reply) =>
    runQuery(deps, sourceOf(request), request.body, request.rawBody ?? '', hangUpSignal(reply)),
  );
}

/** Aborted when the caller goes away before its answer was sent, so the destination call stops too. */
export function hangUpSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
