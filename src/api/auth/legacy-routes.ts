import { signInSubjects, type FailedSignIns } from '../lockout/failed-sign-ins.ts';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Catalog } from '../../catalog/catalog.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Source } from '../../models/entities.ts';
import type { OneTimeKeyStore } from '../../store/roles/one-time-key-store.ts';
import type { AccessTokens } from './access-tokens.ts';
import { checkSecret } from './token-route.ts';
import { legacyAuthenticate, legacyRefresh } from '../schemas.ts';

export interface LegacyDeps {
  catalog: Catalog;
  tokens: AccessTokens;
  oneTimeKeys: OneTimeKeyStore;
  clock: Clock;
  accessSeconds: number;
  refreshSeconds: number;
  signIns: FailedSignIns;
}

const FAILED = 'Client authentication failed';
const INVALID_GRANT = 'Refresh token is invalid, expired or revoked';

function fail(reply: FastifyReply, status: 400 | 401, error: string, description: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .send({ error, error_description: description });
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value ? value : undefined);

/** Marks a refresh-token family revoked, in the store's one-time keys. */
const REVOKED_FAMILY = 'refresh-family-revoked';

/**
 * The older key/secret flow (SPEC 2.1), kept for integrations that still use it. Refresh tokens
 * rotate: each works once, and using it yields a new one. A refresh token that is not good (forged,
 * expired, revoked, used, or another client's) is `invalid_grant`, 400 as RFC 6749 5.2 says.
 *
 * A refresh token used twice means two parties hold it, one of them not the client (OAuth 2.0
 * Security BCP, RFC 9700 4.14.2): its whole family, every refresh token rotated from the same
 * sign-in, is revoked, so the newest one, whoever holds it, stops working too. Access tokens
 * already issued run out on their own (`accessTokenSeconds`); they are not looked up per request.
 */
export function legacyAuthRoutes(app: FastifyInstance, deps: LegacyDeps): void {
  const answer = async (reply: FastifyReply, source: Source, family?: string): Promise<FastifyReply> => {
    const access = await deps.tokens.issue(source, deps.accessSeconds);
    const refresh = await deps.tokens.issue(source, deps.refreshSeconds, 'refresh', family);
    return reply.header('cache-control', 'no-store').send({
      accessToken: access.token,
      expires: new Date(access.expiresAt).toISOString(),
      refreshToken: refresh.token,
    });
  };

  const tags = ['oauth'];
  const authenticate = {
    summary: 'The older key/secret flow: an access and a refresh token',
    tags,
    body: legacyAuthenticate,
  };
  app.post('/auth/authenticate', { schema: authenticate }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const apiKey = text(body.apiKey);
    const secret = text(body.secret);
    if (!apiKey || !secret) return fail(reply, 400, 'invalid_request', 'apiKey and secret are required');
    const subjects = signInSubjects(apiKey, request.ip);
    await deps.signIns.check(subjects);
    const source = await checkSecret(deps.catalog, apiKey, secret);
    if (!source) {
      await deps.signIns.failed(subjects);
      return fail(reply, 401, 'invalid_client', FAILED);
    }
    await deps.signIns.succeeded(subjects);
    return answer(reply, source);
  });

  const refresh = { summary: 'Trade a refresh token (once) for a new pair', tags, body: legacyRefresh };
  app.post('/auth/refreshToken', { schema: refresh }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const apiKey = text(body.apiKey);
    const refreshToken = text(body.refreshToken);
    if (!apiKey || !refreshToken)
      return fail(reply, 400, 'invalid_request', 'apiKey and refreshToken are required');
    const refresh = await deps.tokens.verifyRefresh(refreshToken);
    if (!refresh || refresh.source.clientId !== apiKey)
      return fail(reply, 400, 'invalid_grant', INVALID_GRANT);
    const now = deps.clock.now();
    if (await deps.oneTimeKeys.hasClaim(REVOKED_FAMILY, refresh.family, now))
      return fail(reply, 400, 'invalid_grant', INVALID_GRANT);
    const first = await deps.oneTimeKeys.claimOnce('refresh', refresh.jti, refresh.expiresAt, now);
    if (!first) {
      // Every token of the family expires within refreshSeconds of now: the mark outlives them.
      await deps.oneTimeKeys.claimOnce(REVOKED_FAMILY, refresh.family, now + deps.refreshSeconds * 1000, now);
      return fail(
        reply,
        400,
        'invalid_grant',
        'Refresh token was already used; every refresh token issued from the same sign-in is revoked',
      );
    }
    return answer(reply, refresh.source, refresh.family);
  });
}
