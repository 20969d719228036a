import type { FastifyInstance } from 'fastify';
import type { StoredAuditEntry } from '../../models/audit.ts';
import type { OperatorStore } from '../../store/roles/operator-store.ts';
import { pageQuery, platformKey } from '../schemas.ts';
import { orgOf } from './platform-auth.ts';
import { parseInput } from '../../lib/parse-input.ts';

/** `GET /platform/v1/audit`: every operator action of this organization, newest first (SPEC 6). */
export function auditRoutes(app: FastifyInstance, deps: { operators: OperatorStore }): void {
  const schema = {
    summary: 'The audit trail: who did what and when, newest first',
    tags: ['audit'],
    security: platformKey,
    querystring: pageQuery,
  };
  app.get('/platform/v1/audit', { schema }, async (request) => {
    const { cursor, limit } = parseInput(pageQuery, request.query);
    const page = await deps.operators.listAudit(orgOf(request), { cursor, limit: limit ?? 50 });
    return { entries: page.entries.map(presentEntry), nextCursor: page.nextCursor };
  });
}

function presentEntry(entry: StoredAuditEntry): Record<string, unknown> {
  return {
    id: entry.id,
    at: new Date(entry.at).toISOString(),
    actor: entry.actor,
    action: entry.action,
    resource: entry.resource,
    resourceId: entry.resourceId,
    changes: entry.changes,
  };
}
