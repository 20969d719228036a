import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Catalog } from '../../catalog/catalog.ts';
import { ApiError } from '../../errors.ts';
import { digestKey } from '../../lib/secrets.ts';
import type { AfterAuth } from '../auth/bearer.ts';

declare module 'fastify' {
  interface FastifyRequest {
    orgId?: string;
    /** Who acts, for the audit trail: the platform key's name, or `admin`. */
    actor?: string;
  }
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : undefined;
}

/** Puts the platform key's organization and name on the request; false for no valid key. */
function byPlatformKey(catalog: Catalog, request: FastifyRequest, key: string | undefined): boolean {
  const found = key ? catalog.platformKey(digestKey(key)) : undefined;
  if (!found) return false;
  request.orgId = found.orgId;
  request.actor = found.name;
  return true;
}

/** Whether `key` is the server's admin key, compared by digest in constant time. */
export function isAdminKey(key: string | undefined, adminKey: string | undefined): boolean {
  if (!key || !adminKey) return false;
  return timingSafeEqual(Buffer.from(digestKey(key)), Buffer.from(digestKey(adminKey)));
}

/** Platform API: `Authorization: Bearer <platform key>` scopes every request to one organization. */
export function requireOrganization(catalog: Catalog, afterAuth?: AfterAuth) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!byPlatformKey(catalog, request, bearer(request)))
      throw new ApiError('UNAUTHORIZED', 'Missing or invalid platform API key');
    await afterAuth?.(request, orgOf(request));
  };
}

/**
 * Organizations: the admin key manages them all; a platform key reads and edits only its own
 * organization (its profile), and creates or deletes none.
 */
export function requireAdminOrOrganization(
  catalog: Catalog,
  adminKey: string | undefined,
  afterAuth?: AfterAuth,
) {
  return async (request: FastifyRequest): Promise<void> => {
    const key = bearer(request);
    if (isAdminKey(key, adminKey)) {
      request.actor = 'admin';
      return;
    }
    if (!byPlatformKey(catalog, request, key))
      throw new ApiError('UNAUTHORIZED', 'Missing or invalid platform API key or admin key');
    await afterAuth?.(request, orgOf(request));
  };
}

/** The organization `requireOrganization` put on the request. */
export function orgOf(request: FastifyRequest): string {
  if (request.orgId === undefined) throw new ApiError('UNAUTHORIZED', 'Missing or invalid platform API key');
  return request.orgId;
}

export function actorOf(request: FastifyRequest): { name: string } {
  return { name: request.actor ?? 'platform-api' };
}

/** The organization and who acts, for the operator actions' audit. */
export function operatorOf(request: FastifyRequest): { orgId: string; actor: string } {
  return { orgId: orgOf(request), actor: actorOf(request).name };
}
