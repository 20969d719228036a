import { createHash, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import type { Catalog } from '../../catalog/catalog.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Source } from '../../models/entities.ts';

const ISSUER = 'switchboard';
const AUDIENCE = 'switchboard-api';

type Use = 'access' | 'refresh';

interface Claims {
  orgId: string;
  sourceId: string;
  environment: unknown;
  use: unknown;
  credentialVersion: unknown;
  jti: string;
  /** Refresh tokens: the family every rotation of one sign-in shares (see legacy-routes.ts). */
  family: string | undefined;
  expiresAt: number;
}

/** Tokens whose signature was verified, so a busy client is not re-verified on every request. */
const VERIFIED_CACHE_SIZE = 10_000;

/**
 * Bearer tokens for sources: HS256 JWTs signed with the server's token key (a store setting, so
 * every instance and every restart accepts them). A token names its source, the source's
 * organization and environment, and the version of the source's credentials: disabling the
 * source, or rotating its secret or keys, revokes every token issued before.
 */
export class AccessTokens {
  readonly #key: KeyObject;
  readonly #catalog: Catalog;
  readonly #clock: Clock;
  readonly #verified = new Map<string, Claims>();

  constructor(key: string, catalog: Catalog, clock: Clock) {
    // A KeyObject is imported once; raw key bytes would be imported again on every verify.
    this.#key = createSecretKey(Buffer.from(key, 'base64url'));
    this.#catalog = catalog;
    this.#clock = clock;
  }

  /** `family`: for a refresh token, the family it continues; a new one otherwise. */
  async issue(
    source: Source,
    lifetimeSeconds: number,
    use: Use = 'access',
    family?: string,
  ): Promise<{ token: string; expiresAt: number; jti: string }> {
    const now = Math.floor(this.#clock.now() / 1000);
    const expiresAt = now + lifetimeSeconds;
    const jti = randomUUID();
    const token = await new SignJWT({
      org: source.orgId,
      env: source.environment,
      use,
      cv: credentialVersion(source),
      ...(use === 'refresh' ? { fam: family ?? randomUUID() } : {}),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(source.id)
      .setJti(jti)
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(this.#key);
    return { token, expiresAt: expiresAt * 1000, jti };
  }

  /** The source an access token was issued to, or undefined for any token not valid now. */
  async verify(token: string): Promise<Source | undefined> {
    return (await this.#check(token, 'access'))?.source;
  }

  /** A refresh token's source and its one-time id, or undefined. */
  async verifyRefresh(
    token: string,
  ): Promise<{ source: Source; jti: string; family: string; expiresAt: number } | undefined> {
    const checked = await this.#check(token, 'refresh');
    // A refresh token from before families were kept is a family of its own.
    return checked && { ...checked, family: checked.family ?? checked.jti };
  }

  /**
   * Only the signature check is cached: expiry and the source's current state are checked on
   * every call, so revocation takes effect at once.
   */
  async #check(
    token: string,
    use: Use,
  ): Promise<{ source: Source; jti: string; family: string | undefined; expiresAt: number } | undefined> {
    const claims = this.#verified.get(token) ?? (await this.#verifySignature(token));
    if (!claims || claims.use !== use || claims.expiresAt <= this.#clock.now()) return undefined;
    const source = this.#catalog.source(claims.orgId, claims.sourceId);
    if (!source || source.disabled || source.environment !== claims.environment) return undefined;
    if (claims.credentialVersion !== credentialVersion(source)) return undefined;
    return { source, jti: claims.jti, family: claims.family, expiresAt: claims.expiresAt };
  }

  async #verifySignature(token: string): Promise<Claims | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(this.#clock.now()),
      });
      if (typeof payload.org !== 'string' || typeof payload.sub !== 'string') return undefined;
      const claims: Claims = {
        orgId: payload.org,
        sourceId: payload.sub,
        environment: payload.env,
        use: payload.use,
        credentialVersion: payload.cv,
        jti: String(payload.jti),
        family: typeof payload.fam === 'string' ? payload.fam : undefined,
        expiresAt: (payload.exp ?? 0) * 1000,
      };
      if (this.#verified.size >= VERIFIED_CACHE_SIZE) this.#verified.clear();
      this.#verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }
}

const versions = new WeakMap<Source, string>();

/** Changes whenever the source's secret or keys change, which revokes older tokens. */
export function credentialVersion(source: Source): string {
  let version = versions.get(source);
  if (version === undefined) {
    version = digestCredentials(source);
    versions.set(source, version);
  }
  return version;
}

function digestCredentials(source: Source): string {
  return createHash('sha256')
    .update(`${source.secretHash ?? ''}|${JSON.stringify(source.jwks ?? null)}|${source.jwksUrl ?? ''}`)
    .digest('base64url')
    .slice(0, 16);
}
