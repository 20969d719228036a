import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Catalog } from '../../catalog/catalog.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Source } from '../../models/entities.ts';
import type { OneTimeKeyStore } from '../../store/roles/one-time-key-store.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGORITHMS = ['RS256', 'RS384', 'ES256', 'ES384'] as const;
/** An assertion may live at most this long (SPEC 2.1: `exp` within 5 minutes). */
const MAX_LIFETIME_S = 300;
/** Tolerated clock difference between the client and Switchboard. */
const SKEW_S = 30;

/**
 * `private_key_jwt` client authentication (RFC 7523): the source signs a short-lived JWT with
 * its private key; Switchboard checks it against the source's registered JWKS (inline or by
 * URL), and refuses any `jti` it has seen before, across restarts and instances (the store).
 */
export class ClientAssertions {
  readonly #catalog: Catalog;
  readonly #oneTimeKeys: OneTimeKeyStore;
  readonly #clock: Clock;
  readonly #keySets = new Map<string, { version: string; getKey: JWTVerifyGetKey }>();

  constructor(deps: { catalog: Catalog; oneTimeKeys: OneTimeKeyStore; clock: Clock }) {
    this.#catalog = deps.catalog;
    this.#oneTimeKeys = deps.oneTimeKeys;
    this.#clock = deps.clock;
  }

  /** The source the assertion proves, or undefined (the caller answers `invalid_client`). */
  async verify(assertion: string, audiences: string[], clientId?: string): Promise<Source | undefined> {
    let issuer: unknown;
    try {
      issuer = decodeJwt(assertion).iss;
    } catch {
      return undefined;
    }
    if (typeof issuer !== 'string' || (clientId !== undefined && clientId !== issuer)) return undefined;
    const source = this.#catalog.sourceByClientId(issuer);
    if (!source || source.disabled || (!source.jwks && !source.jwksUrl)) return undefined;
    const now = this.#clock.now();
    try {
      const { payload } = await jwtVerify(assertion, this.#keySet(source), {
        algorithms: [...ASSERTION_ALGORITHMS],
        issuer: source.clientId,
        subject: source.clientId,
        audience: audiences,
        requiredClaims: ['exp', 'jti'],
        currentDate: new Date(now),
        clockTolerance: SKEW_S,
      });
      const exp = payload.exp ?? 0;
      if (exp * 1000 > now + (MAX_LIFETIME_S + SKEW_S) * 1000) return undefined;
      if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256)
        return undefined;
      const fresh = await this.#oneTimeKeys.claimOnce(
        'jti',
        `${source.clientId}\u0000${payload.jti}`,
        (exp + SKEW_S) * 1000,
        now,
      );
      return fresh ? source : undefined;
    } catch {
      return undefined;
    }
  }

  #keySet(source: Source): JWTVerifyGetKey {
    const version = `${JSON.stringify(source.jwks ?? null)}|${source.jwksUrl ?? ''}`;
    const key = `${source.orgId}\u0000${source.id}`;
    const cached = this.#keySets.get(key);
    if (cached?.version === version) return cached.getKey;
    const getKey = source.jwks
      ? createLocalJWKSet(source.jwks as JSONWebKeySet)
      : createRemoteJWKSet(new URL(source.jwksUrl ?? ''), {
          timeoutDuration: 5_000,
          cooldownDuration: 30_000,
        });
    this.#keySets.set(key, { version, getKey });
    return getKey;
  }
}
