import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import type { PauseInfo } from '../../store/roles/operator-store.ts';
import type { PlatformDeps } from './logs-routes.ts';
import { operatorOf, orgOf } from './platform-auth.ts';
import { presentLog, presentQueue } from './present.ts';
import { parseInput } from '../../lib/parse-input.ts';
import { idParams, platformKey } from '../schemas.ts';

const operatorBody = z
  .object({ by: z.string().min(1).max(200).optional(), reason: z.string().max(2000).optional() })
  .optional();

/** Skip also names the ordering key whose head to skip (SPEC 5.4), on a keyed destination. */
const skipBody = z
  .object({
    by: z.string().min(1).max(200).optional(),
    reason: z.string().max(2000).optional(),
    key: z.string().max(256).optional(),
  })
  .optional();

type QueueRequest = FastifyRequest<{ Params: { id: string } }>;

export function queueRoutes(app: FastifyInstance, deps: PlatformDeps): void {
  const { operators, catalog, clock } = deps;

  const view = async (request: QueueRequest): Promise<Record<string, unknown>> => {
    const now = clock.now();
    const queue = await operators.getQueue(orgOf(request), request.params.id, now);
    if (!queue) throw new ApiError('NOT_FOUND', 'Destination not found');
    return presentQueue(queue, catalog, now);
  };

  const operator = (request: QueueRequest): PauseInfo => {
    const body = parseInput(operatorBody, request.body);
    return { by: body?.by ?? request.actor ?? 'platform-api', reason: body?.reason ?? null, at: clock.now() };
  };

  const tags = ['queues'];
  const doc = (summary: string, body?: typeof operatorBody | typeof skipBody) => ({
    schema: {
      summary,
      tags,
      security: platformKey,
      params: idParams,
      ...(body ? { body } : {}),
    },
  });
  app.get(
    '/platform/v1/destinations/:id/queue',
    doc("A destination's queue: state, depth, head, last error"),
    view,
  );

  app.post(
    '/platform/v1/destinations/:id/queue/pause',
    doc('Pause a queue', operatorBody),
    async (request: QueueRequest) => {
      const pause = operator(request);
      await deps.actions.pause(operatorOf(request), request.params.id, pause.by, pause.reason);
      return view(request);
    },
  );

  app.post(
    '/platform/v1/destinations/:id/queue/resume',
    doc('Resume a queue'),
    async (request: QueueRequest) => {
      await deps.actions.resume(operatorOf(request), request.params.id);
      return view(request);
    },
  );

  app.post(
    '/platform/v1/destinations/:id/queue/skip',
    doc('Fail the head log of a paused queue, or of a blocked or paused ordering key', skipBody),
    async (request: QueueRequest) => {
      const pause = operator(request);
      const key = parseInput(skipBody, request.body)?.key;
      const skipped = await deps.actions.skip(
        operatorOf(request),
        request.params.id,
        pause.by,
        pause.reason,
        key,
      );
      return { skipped: presentLog(skipped, catalog), queue: await view(request) };
    },
  );
}
