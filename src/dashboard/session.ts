import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a dashboard session cookie carries, signed: no state on the server but revocations. */
export interface Session {
  /** Session id: what sign-out revokes. */
  sid: string;
  /** The platform key's digest, or `admin`. */
  key: string;
  /** The organization the pages show (the admin key can switch it). */
  orgId: string;
  /** Expiry, epoch ms. */
  exp: number;
}

export const SESSION_COOKIE = 'sb_session';
export const SESSION_MS = 12 * 3_600_000;

/**
 * Signs and reads session cookies, and derives each session's CSRF token, with a key kept in
 * the store (every instance signs alike). A cookie that is altered, expired or of another key
 * reads as no session.
 */
export class SessionCodec {
  readonly #key: Buffer;

  constructor(key: string) {
    this.#key = Buffer.from(key);
  }

  create(key: string, orgId: string, now: number): Session {
    return { sid: randomBytes(16).toString('base64url'), key, orgId, exp: now + SESSION_MS };
  }

  encode(session: Session): string {
    const body = Buffer.from(JSON.stringify(session)).toString('base64url');
    return `${body}.${this.#sign(`session:${body}`)}`;
  }

  decode(cookie: string | undefined, now: number): Session | undefined {
    if (!cookie || cookie.length > 2_000) return undefined;
    const [body, signature, extra] = cookie.split('.');
    if (!body || !signature || extra !== undefined || !this.#equal(signature, this.#sign(`session:${body}`)))
      return undefined;
    try {
      const session = JSON.parse(Buffer.from(body, 'base64url').toString()) as Session;
      return typeof session.sid === 'string' && typeof session.exp === 'number' && session.exp > now
        ? session
        : undefined;
    } catch {
      return undefined;
    }
  }

  csrfToken(session: Session): string {
    return this.#sign(`csrf:${session.sid}`);
  }

  checkCsrf(session: Session, token: unknown): boolean {
    return typeof token === 'string' && this.#equal(token, this.csrfToken(session));
  }

  #sign(text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }

  #equal(a: string, b: string): boolean {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  }
}
