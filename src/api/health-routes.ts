import type { FastifyInstance } from 'fastify';
import type { StoreLifecycle } from '../store/roles/lifecycle.ts';

export function healthRoutes(app: FastifyInstance, store: Pick<StoreLifecycle, 'ping'>): void {
  app.get('/healthz', { schema: { summary: 'Alive', tags: ['meta'] } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'Storage reachable (503 otherwise)', tags: ['meta'] } },
    async (_request, reply) => {
      try {
        await store.ping();
        return { status: 'ready' };
      } catch {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ status: 'unavailable', reason: 'storage unreachable' });
      }
    },
  );
}
