import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.ts';
import type { Metrics } from '../metrics/metrics.ts';

/**
 * `GET /metrics`: Prometheus text format. Open unless `metrics.token` is set; then a scrape
 * sends `Authorization: Bearer <token>` (Prometheus' `authorization` setting).
 */
export function metricsRoute(app: FastifyInstance, deps: { metrics: Metrics; token?: string }): void {
  const expected = deps.token === undefined ? undefined : Buffer.from(`Bearer ${deps.token}`);
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics (text format)', tags: ['meta'] } },
    async (request, reply) => {
      if (expected) {
        const given = Buffer.from(request.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected))
          throw new ApiError('UNAUTHORIZED', 'Missing or wrong metrics token');
      }
      const text = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(text);
    },
  );
}
