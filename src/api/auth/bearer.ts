import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import type { Source } from '../../models/entities.ts';
import type { AccessTokens } from './access-tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    source?: Source;
  }
}

/** Called once the caller's organization is known (its own rate limit). */
export type AfterAuth = (request: FastifyRequest, orgId: string) => Promise<void>;

export type SourceAuth = (request: FastifyRequest) => Promise<void>;

/** Makes a preHandler that requires a valid source access token. */
export function requireSource(tokens: AccessTokens, afterAuth?: AfterAuth): SourceAuth {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    // Only the scheme is compared case-insensitively: lower-casing the whole header would copy
    // the token on every request.
    const token =
      header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer '
        ? header.slice(7).trim()
        : undefined;
    const source = token ? await tokens.verify(token) : undefined;
    if (!source)
      throw new ApiError(
        'UNAUTHORIZED',
        token ? 'Invalid or expired access token' : 'Missing bearer access token',
        {
          headers: { 'www-authenticate': 'Bearer realm="switchboard"' },
        },
      );
    request.source = source;
    await afterAuth?.(request, source.orgId);
  };
}

/** The source `requireSource` put on the request. */
export function sourceOf(request: FastifyRequest): Source {
  if (!request.source) throw new ApiError('UNAUTHORIZED', 'Missing bearer access token');
  return request.source;
}
