import { signInSubjects, type FailedSignIns } from '../lockout/failed-sign-ins.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Catalog } from '../../catalog/catalog.ts';
import { verifySecret } from '../../lib/secrets.ts';
import type { Source } from '../../models/entities.ts';
import type { AccessTokens } from './access-tokens.ts';
import { FORM, tokenForm } from '../schemas.ts';
import { JWT_BEARER, type ClientAssertions } from './client-assertion.ts';

type OAuthError = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type';

export interface TokenDeps {
  catalog: Catalog;
  tokens: AccessTokens;
  assertions: ClientAssertions;
  lifetimeSeconds: number;
  /** Configured public base URL; when set, its token URL is the only accepted `aud`. */
  publicUrl?: string;
  signIns: FailedSignIns;
}

/**
 * An RFC 6749 5.2 error. `WWW-Authenticate` goes with a 401 only when the client authenticated
 * with HTTP Basic: the RFC asks for it then, and a client library that sees a challenge it did
 * not answer raises a challenge error instead of showing the app `invalid_client`.
 */
function oauthError(
  reply: FastifyReply,
  status: 400 | 401,
  error: OAuthError,
  description: string,
  usedBasic = false,
): FastifyReply {
  if (status === 401 && usedBasic) reply.header('www-authenticate', 'Basic realm="switchboard"');
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ error, error_description: description });
}

const FAILED = 'Client authentication failed';

/**
 * `POST /v2/auth/token`: OAuth 2.0 client credentials (RFC 6749 4.4). The client authenticates
 * with its secret (in the body, or HTTP Basic) or with a signed JWT assertion (RFC 7523). Every
 * failure of authentication gets the same answer, so it does not tell which part was wrong.
 */
export function tokenRoute(app: FastifyInstance, deps: TokenDeps): void {
  const schema = {
    summary: 'OAuth 2.0 client credentials: a client secret or a signed JWT assertion for an access token',
    tags: ['oauth'],
    consumes: [FORM],
    body: tokenForm,
  };
  app.post(TOKEN_PATH, { schema }, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, string | undefined>;
    if (form.grant_type !== 'client_credentials')
      return form.grant_type
        ? oauthError(reply, 400, 'unsupported_grant_type', 'grant_type must be client_credentials')
        : oauthError(reply, 400, 'invalid_request', 'grant_type is required');
    const basic = parseBasic(request.headers.authorization);
    const methods = [basic, form.client_secret, form.client_assertion].filter((m) => m !== undefined).length;
    if (methods > 1)
      return oauthError(reply, 400, 'invalid_request', 'Use one client authentication method, not two');
    const subjects = signInSubjects(basic?.id ?? form.client_id, request.ip);
    await deps.signIns.check(subjects);
    let source: Source | undefined;
    if (form.client_assertion !== undefined) {
      if (form.client_assertion_type !== JWT_BEARER)
        return oauthError(reply, 400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER}`);
      source = await deps.assertions.verify(
        form.client_assertion,
        acceptedAudiences(request, deps.publicUrl),
        form.client_id,
      );
    } else {
      const clientId = basic?.id ?? form.client_id;
      const secret = basic?.secret ?? form.client_secret;
      if (!clientId || !secret) return oauthError(reply, 401, 'invalid_client', FAILED, basic !== undefined);
      source = await checkSecret(deps.catalog, clientId, secret);
    }
    if (!source) {
      await deps.signIns.failed(subjects);
      return oauthError(reply, 401, 'invalid_client', FAILED, basic !== undefined);
    }
    await deps.signIns.succeeded(subjects);
    const { token } = await deps.tokens.issue(source, deps.lifetimeSeconds);
    return reply.header('cache-control', 'no-store').send({
      access_token: token,
      token_type: 'Bearer',
      expires_in: deps.lifetimeSeconds,
      scope: 'endpoint query fhir',
    });
  });
}

/** Hashes even for unknown clients, so the answer time does not tell whether a client exists. */
export async function checkSecret(
  catalog: Catalog,
  clientId: string,
  secret: string,
): Promise<Source | undefined> {
  const source = catalog.sourceByClientId(clientId);
  const valid = await verifySecret(secret, source?.secretHash ?? DUMMY_HASH);
  return source && source.secretHash && !source.disabled && valid ? source : undefined;
}

const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

/**
 * This server's issuer identifier (RFC 8414): `server.publicUrl`, or without it the base URL the
 * client called. With `publicUrl` configured the Host header plays no part: it (or a proxy's
 * X-Forwarded-Host) is the caller's to choose, so deriving the audience from it would accept an
 * assertion minted for another server (same paths, other host) replayed here with a matching
 * Host.
 */
export function issuerOf(request: FastifyRequest, publicUrl: string | undefined): string {
  return publicUrl ? publicUrl.replace(/\/+$/, '') : `${request.protocol}://${request.host}`;
}

export const TOKEN_PATH = '/v2/auth/token';

/**
 * What a JWT assertion may name as `aud`: the issuer identifier or the token endpoint's URL
 * (RFC 7523 3 allows either; current OAuth guidance, which client libraries follow by default,
 * prefers the issuer). Nothing else.
 */
function acceptedAudiences(request: FastifyRequest, publicUrl: string | undefined): string[] {
  const issuer = issuerOf(request, publicUrl);
  return [issuer, `${issuer}${TOKEN_PATH}`];
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header?.toLowerCase().startsWith('basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // RFC 6749 2.3.1: both parts are form-urlencoded before being put in the header.
  const unescape = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
}
