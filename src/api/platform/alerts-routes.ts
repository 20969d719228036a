import type { FastifyInstance } from 'fastify';
import type { Alert } from '../../models/alert.ts';
import type { PlatformDeps } from './logs-routes.ts';
import { orgOf } from './platform-auth.ts';
import { parseInput } from '../../lib/parse-input.ts';
import { pageQuery, platformKey } from '../schemas.ts';

/** `GET /platform/v1/alerts`: the alerts raised for this organization, newest first (SPEC 6). */
export function alertsRoutes(app: FastifyInstance, deps: PlatformDeps): void {
  const schema = {
    summary: 'Alerts raised, newest first',
    tags: ['alerts'],
    security: platformKey,
    querystring: pageQuery,
  };
  app.get('/platform/v1/alerts', { schema }, async (request) => {
    const { cursor, limit } = parseInput(pageQuery, request.query);
    const result = await deps.operators.listAlerts(orgOf(request), { cursor, limit: limit ?? 50 });
    return { alerts: result.alerts.map(presentAlert), nextCursor: result.nextCursor };
  });
}

function presentAlert(alert: Alert): Record<string, unknown> {
  return {
    id: alert.id,
    kind: alert.kind,
    destinationId: alert.destinationId,
    logId: alert.logId,
    attempts: alert.attempts,
    error: alert.error,
    channels: alert.channels,
    createdAt: new Date(alert.createdAt).toISOString(),
    sentAt: alert.sentAt === null ? null : new Date(alert.sentAt).toISOString(),
  };
}
