import type { FastifyRequest } from 'fastify';
import type { Catalog } from '../../catalog/catalog.ts';
import { ApiError } from '../../errors.ts';
import { digestKey } from '../../lib/secrets.ts';
import type { AfterAuth } from '../auth/bearer.ts';

declare module 'fastify' {
  interface FastifyRequest {
    orgId?: string;
  }
}

/** Platform API: `Authorization: Bearer <platform key>` scopes every request to one organization. */
export function requireOrganization(catalog: Catalog, afterAuth?: AfterAuth) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const key = header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : undefined;
    const orgId = key ? catalog.orgIdForPlatformKey(digestKey(key)) : undefined;
    if (!orgId) throw new ApiError('UNAUTHORIZED', 'Missing or invalid platform API key');
    request.orgId = orgId;
    await afterAuth?.(request, orgId);
  };
}

/** The organization `requireOrganization` put on the request. */
export function orgOf(request: FastifyRequest): string {
  if (request.orgId === undefined) throw new ApiError('UNAUTHORIZED', 'Missing or invalid platform API key');
  return request.orgId;
}
