import type { FastifyInstance } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import type { WriteHealth } from '../lib/write-health.ts';
import type { StoreLifecycle } from '../store/roles/lifecycle.ts';

/**
 * A failing store is probed with a write from `/readyz` no sooner than this after the last
 * failed write, and no more often: a small probe may fit where a message did not, so probing at
 * once would flip readiness back while writes still fail.
 */
const PROBE_INTERVAL_MS = 5_000;

/**
 * `/healthz`: the process is alive. `/readyz`: storage is reachable and takes writes. After a
 * write failed for the storage's sake (a full disk), readiness stays 503 with the reason until a
 * write succeeds again: a real one, or the small probe write `/readyz` makes (see PROBE_INTERVAL_MS).
 */
export function healthRoutes(
  app: FastifyInstance,
  deps: {
    store: Pick<StoreLifecycle, 'ping' | 'probeWrite' | 'checkSpace'>;
    writeHealth: WriteHealth;
    clock: Clock;
  },
): void {
  const { store, writeHealth } = deps;
  let probedAt = -Infinity;
  app.get('/healthz', { schema: { summary: 'Alive', tags: ['meta'] } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'Storage reachable and taking writes (503 otherwise)', tags: ['meta'] } },
    async (_request, reply) => {
      const unavailable = (reason: string) =>
        reply.code(503).header('retry-after', '5').send({ status: 'unavailable', reason });
      try {
        await store.ping();
      } catch {
        return unavailable('storage unreachable');
      }
      try {
        await store.checkSpace();
      } catch (error) {
        // New messages are refused for lack of disk space: not ready, though no write failed yet.
        writeHealth.failed((error as Error).message, deps.clock.now());
      }
      const failure = writeHealth.failure;
      if (failure) {
        const now = performance.now();
        if (now - probedAt >= PROBE_INTERVAL_MS && now - failure.lastAt >= PROBE_INTERVAL_MS) {
          probedAt = now;
          try {
            await store.probeWrite();
            writeHealth.succeeded();
          } catch (error) {
            writeHealth.failed((error as Error).message, deps.clock.now());
          }
        }
        const still = writeHealth.failure;
        if (still)
          return unavailable(
            `storage refuses writes since ${new Date(still.since).toISOString()}: ${still.reason}` +
              ' (a full disk? free space; this instance turns ready by itself once a write succeeds)',
          );
      }
      return { status: 'ready' };
    },
  );
}
