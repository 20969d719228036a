import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ASSERTION_ALGORITHMS } from './client-assertion.ts';
import { issuerOf, TOKEN_PATH } from './token-route.ts';

/**
 * RFC 8414 authorization server metadata, so that a standard OAuth client finds the token
 * endpoint and what it accepts by discovery from the issuer identifier alone. Served at the
 * well-known path after the host, and, for an issuer whose `server.publicUrl` has a path (a
 * reverse proxy's prefix), at that path after the well-known one (RFC 8414 3).
 */
export function metadataRoute(app: FastifyInstance, deps: { publicUrl?: string }): void {
  const serve = async (request: FastifyRequest): Promise<Record<string, unknown>> => {
    const issuer = issuerOf(request, deps.publicUrl);
    return {
      issuer,
      token_endpoint: `${issuer}${TOKEN_PATH}`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
      grant_types_supported: ['client_credentials'],
      // No authorization endpoint: sources are systems that authenticate as themselves.
      response_types_supported: [],
      scopes_supported: ['endpoint', 'query', 'fhir'],
    };
  };
  const schema = { summary: 'OAuth 2.0 authorization server metadata (RFC 8414)', tags: ['oauth'] };
  app.get('/.well-known/oauth-authorization-server', { schema }, serve);
  app.get('/.well-known/oauth-authorization-server/*', { schema }, serve);
}
