import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Catalog } from '../catalog/catalog.ts';
import { ApiError } from '../errors.ts';
import type { Clock } from '../lib/clock.ts';
import { digestKey } from '../lib/secrets.ts';
import type { CatalogAdmin } from '../services/catalog-admin.ts';
import type { Verification } from '../services/verify-destination.ts';
import type { Destination } from '../models/entities.ts';
import type { OneTimeKeyStore } from '../store/roles/one-time-key-store.ts';
import type { OperatorStore } from '../store/roles/operator-store.ts';
import type { OperatorActions } from '../services/operator-actions.ts';
import { isAdminKey } from '../api/platform/platform-auth.ts';
import { errorPage, signInPage, type PageContext } from './layout.ts';
import { SESSION_COOKIE, SESSION_MS, SessionCodec, type Session } from './session.ts';
import { dashboardPages } from './dashboard-pages.ts';

export interface DashboardDeps {
  operators: OperatorStore;
  oneTimeKeys: OneTimeKeyStore;
  catalog: Catalog;
  admin: CatalogAdmin;
  clock: Clock;
  adminKey: string | undefined;
  /** The key sessions are signed with (kept in the store: every instance signs alike). */
  sessionKey: string;
  verify: (destination: Destination, method: 'POST' | 'GET') => Promise<Verification>;
  /** The operator actions the Platform API uses too (with their audit). */
  actions: OperatorActions;
}

declare module 'fastify' {
  interface FastifyRequest {
    page?: PageContext;
    session?: Session;
  }
}

/** Revoked session ids (sign-out), shared by every instance through the store. */
const SIGNED_OUT = 'dashboard-signed-out';

/**
 * No `unsafe-inline`, no `unsafe-eval`, nothing from anywhere but Switchboard, no framing:
 * a payload that smuggles markup in can neither run nor load anything.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const require = createRequire(import.meta.url);
const ASSETS: Record<string, { type: string; body: Buffer }> = {
  'htmx.min.js': {
    type: 'text/javascript; charset=utf-8',
    body: readFileSync(require.resolve('htmx.org/dist/htmx.min.js')),
  },
  'favicon.svg': {
    type: 'image/svg+xml',
    body: readFileSync(join(import.meta.dirname, 'assets', 'favicon.svg')),
  },
  'dashboard.css': {
    type: 'text/css; charset=utf-8',
    body: readFileSync(join(import.meta.dirname, 'assets', 'dashboard.css')),
  },
};

export function sendPage(reply: FastifyReply, body: string, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body);
}

function cookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=');
  }
  return undefined;
}

function setCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeS: number): void {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure}`,
  );
}

/**
 * `/dashboard` (SPEC 6): server-rendered HTML plus htmx, served by this process. Every page needs
 * a session; every state-changing request also its CSRF token. The pages call the same store
 * roles and services as the Platform API.
 */
export async function dashboardPlugin(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const codec = new SessionCodec(deps.sessionKey);
  const { catalog, clock } = deps;
  const hide = { schema: { hide: true } };

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 256 * 1024 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', CSP);
  });

  /** The session, if the cookie is genuine, unexpired, not signed out and its key still valid. */
  const sessionOf = async (request: FastifyRequest): Promise<Session | undefined> => {
    const now = clock.now();
    const session = codec.decode(cookieOf(request), now);
    if (!session) return undefined;
    if (session.key === 'admin' ? !deps.adminKey : catalog.platformKey(session.key)?.orgId !== session.orgId)
      return undefined;
    if (!catalog.organization(session.orgId)) return undefined;
    if (await deps.oneTimeKeys.hasClaim(SIGNED_OUT, session.sid, now)) return undefined;
    return session;
  };

  const contextOf = (session: Session): PageContext => {
    const admin = session.key === 'admin';
    return {
      csrf: codec.csrfToken(session),
      orgId: session.orgId,
      orgName: catalog.organization(session.orgId)?.name ?? session.orgId,
      admin,
      organizations: admin ? catalog.organizations().map((o) => ({ id: o.id, name: o.name })) : [],
      actor: admin ? 'admin' : (catalog.platformKey(session.key)?.name ?? 'platform key'),
    };
  };

  app.setErrorHandler(async (error, request, reply) => {
    const failure = error as Error & { statusCode?: number };
    const status = failure instanceof ApiError ? failure.status : failure.statusCode;
    if (status === undefined || status >= 500)
      request.log.error({ err: failure }, 'dashboard: request failed');
    const shown = status !== undefined && status < 500 ? status : 500;
    const message = shown < 500 ? failure.message : 'Something went wrong; the server log has the details.';
    return sendPage(reply, errorPage(request.page, shown, message), shown);
  });

  app.get(
    '/dashboard/assets/:name',
    hide,
    async (request: FastifyRequest<{ Params: { name: string } }>, reply) => {
      const asset = ASSETS[request.params.name];
      if (!asset) throw new ApiError('NOT_FOUND', 'No such file');
      return reply.type(asset.type).header('cache-control', 'public, max-age=3600').send(asset.body);
    },
  );

  app.get('/dashboard/sign-in', hide, async (_request, reply) => sendPage(reply, signInPage()));
  app.post('/dashboard/sign-in', hide, async (request, reply) => {
    const key = (request.body as Record<string, unknown> | undefined)?.key;
    const now = clock.now();
    let session: Session | undefined;
    if (typeof key === 'string' && isAdminKey(key, deps.adminKey)) {
      const first = catalog.organizations()[0];
      if (!first)
        return sendPage(
          reply,
          signInPage('There is no organization yet: create one through the Platform API.'),
          401,
        );
      session = codec.create('admin', first.id, now);
    } else if (typeof key === 'string' && key.length > 0 && key.length < 512) {
      const found = catalog.platformKey(digestKey(key));
      if (found) session = codec.create(found.keyDigest, found.orgId, now);
    }
    // The form again, with the reason (200, as a form re-shown with its error is).
    if (!session) return sendPage(reply, signInPage('That key is not valid.'));
    setCookie(request, reply, codec.encode(session), SESSION_MS / 1000);
    return reply.redirect('/dashboard/logs', 303);
  });

  const requireSession = (request: FastifyRequest): Session => {
    if (!request.session) throw new ApiError('UNAUTHORIZED', 'Sign in first');
    return request.session;
  };

  // Everything below needs a session; state changes also the session's CSRF token.
  app.register(async (pages) => {
    pages.addHook('preHandler', async (request, reply) => {
      const session = await sessionOf(request);
      if (!session) {
        if (request.method === 'GET') return reply.redirect('/dashboard/sign-in', 303);
        return sendPage(reply, signInPage('Your session has ended: sign in again.'), 401);
      }
      request.session = session;
      request.page = contextOf(session);
      if (request.method !== 'GET') {
        const token =
          (request.body as Record<string, unknown> | undefined)?._csrf ?? request.headers['x-csrf-token'];
        if (!codec.checkCsrf(session, token))
          return sendPage(
            reply,
            errorPage(request.page, 403, 'This form has expired; reload the page and try again.'),
            403,
          );
      }
      return undefined;
    });

    pages.post('/dashboard/sign-out', hide, async (request, reply) => {
      const session = requireSession(request);
      await deps.oneTimeKeys.claimOnce(SIGNED_OUT, session.sid, session.exp, clock.now());
      setCookie(request, reply, '', 0);
      return reply.redirect('/dashboard/sign-in', 303);
    });

    pages.post('/dashboard/organization', hide, async (request, reply) => {
      const session = requireSession(request);
      const orgId = (request.body as Record<string, unknown>).orgId;
      if (session.key !== 'admin' || typeof orgId !== 'string' || !catalog.organization(orgId))
        throw new ApiError('NOT_FOUND', 'Organization not found');
      setCookie(
        request,
        reply,
        codec.encode({ ...session, orgId }),
        Math.max(0, Math.floor((session.exp - clock.now()) / 1000)),
      );
      return reply.redirect('/dashboard/logs', 303);
    });

    dashboardPages(pages, deps);
  });
}
