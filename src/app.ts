import { isUtf8 } from 'node:buffer';
import { installBodyBudget } from './api/body-budget.ts';
import type { WriteHealth } from './lib/write-health.ts';
import type { FailedSignIns } from './api/lockout/failed-sign-ins.ts';
import type { QueueRef } from './store/roles/queue-store.ts';
import type { CatalogAdmin } from './services/catalog-admin.ts';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import type { Catalog } from './catalog/catalog.ts';
import type { Config } from './config.ts';
import { ApiError, ShuttingDownError } from './errors.ts';
import type { Clock } from './lib/clock.ts';
import type { Logger } from './lib/logger.ts';
import type { Store } from './store/store.ts';
import type { AccessTokens } from './api/auth/access-tokens.ts';
import { requireSource } from './api/auth/bearer.ts';
import { RateLimiter } from './api/rate-limit/rate-limit.ts';
import type { RateCounter } from './api/rate-limit/rolling-window.ts';
import type { QueryClient } from './delivery/query-client.ts';
import { installErrorHandling, sendError } from './api/error-handler.ts';
import { registerOpenApi } from './api/openapi.ts';
import { registerRoutes } from './api/routes.ts';
import type { Metrics } from './metrics/metrics.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The body as received, for destinations that get it byte for byte: its bytes for
     * `application/json` (moved to the store thread, not copied, once the message is stored),
     * its text for FHIR's own types and forms.
     */
    rawBody?: Buffer | string;
  }
  interface FastifyInstance {
    /** `METHOD /path` of every route registered, as Fastify saw them (the OpenAPI test's list). */
    readonly registeredRoutes: readonly string[];
  }
}

export interface AppDeps {
  config: Readonly<Config>;
  store: Store;
  catalog: Catalog;
  clock: Clock;
  logger: Logger;
  tokens: AccessTokens;
  /** Outbound client of synchronous queries (its own pool, apart from delivery). */
  queryClient: QueryClient;
  /** Counts requests per client for the rate limit (in memory, or Redis for many instances). */
  rateCounter: RateCounter;
  /** Whether storage takes writes (readiness). */
  writeHealth: WriteHealth;
  /** Failed client authentications of the token endpoints (brute-force lockout). */
  signIns: FailedSignIns;
  /**
   * Wakes delivery after new work was stored (for those queues) or a queue changed (none named:
   * every runner looks again).
   */
  wakeDelivery: (queues?: QueueRef[]) => void;
  metrics: Metrics;
  /** Creates, changes and deletes the catalog (the Platform API's configuration routes). */
  catalogAdmin: CatalogAdmin;
}

/** Sent with every answer: JSON APIs are never framed, sniffed, or allowed to load anything. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * HTTP the parser cannot read (a bad request line or header, a body cut short, headers over the
 * size limit) or that arrives too slowly never reaches a route, so no API's body shape applies:
 * the answer is a status line with the security headers and no body, and the connection closes.
 * (Fastify's default here answers its own JSON body without the security headers.)
 */
function refuseMalformed(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large']
        : [400, 'Bad Request'];
  // Never write into an answer already under way on this connection.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const headers = {
      ...SECURITY_HEADERS,
      'cache-control': 'no-store',
      'content-length': '0',
      connection: 'close',
    };
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`HTTP/1.1 ${status} ${reason}\r\n${lines.join('')}\r\n`);
  }
  socket.destroy(error);
}

const APP_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Builds the HTTP application without listening, so tests can drive it on any port. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, catalog, clock, tokens } = deps;
  const { server } = config;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: server.payloadLimitBytes,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    trustProxy: server.trustedProxies.length > 0 ? [...server.trustedProxies] : false,
    // Slow-loris guards; Node checks them every second rather than its default 30 s.
    serverFactory: (handler) =>
      createServer(
        {
          headersTimeout: server.headersTimeoutMs,
          requestTimeout: server.requestTimeoutMs,
          keepAliveTimeout: server.keepAliveTimeoutMs,
          connectionsCheckingInterval: 1_000,
          // Node would answer a missing Host itself, without the security headers; see onRequest.
          requireHostHeader: false,
        },
        handler,
      )
        // An unknown `Expect` would get Node's bare 417; the request is served as if it had none.
        .on('checkExpectation', handler),
    clientErrorHandler: refuseMalformed,
    // A malformed percent-encoding or an over-long segment in the path: answered like any error.
    frameworkErrors: (error, request, reply) => {
      reply.headers(SECURITY_HEADERS).header('cache-control', 'no-store');
      return sendError(
        request,
        reply,
        error.code === 'FST_ERR_BAD_URL'
          ? new ApiError('INVALID_FIELD', 'The request path is not validly percent-encoded')
          : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? new ApiError('NOT_FOUND', 'Not found: a path segment is too long')
            : new ApiError('INTERNAL', 'Unexpected error'),
      );
    },
  });
  const limiter = new RateLimiter({
    counter: deps.rateCounter,
    clock,
    logger: deps.logger,
    global: { limit: server.rateLimit, windowMs: server.rateWindowMs },
  });
  const organizationLimit = (request: FastifyRequest, orgId: string): Promise<void> =>
    limiter.checkOrganization(request, orgId, catalog.organization(orgId)?.rateLimit);
  const authenticate = requireSource(tokens, organizationLimit);

  let closing = false;
  app.addHook('onClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request) => {
    if (closing) throw new ShuttingDownError('shutting down');
    // RFC 9112 3.2: an HTTP/1.1 request without Host is 400 (Node's own check is off, see above).
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined)
      throw new ApiError('INVALID_FIELD', 'Host header is required');
    // Compressed bodies would otherwise be read as text and fail as "not valid JSON".
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding && encoding !== 'identity')
      throw new ApiError(
        'UNSUPPORTED_CONTENT_TYPE',
        `Content-Encoding ${encoding.slice(0, 40)} is not supported; send the body uncompressed`,
      );
  });
  app.addHook('onRequest', limiter.onRequest);
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.answered(
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  app.addHook('onSend', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (request.protocol === 'https') reply.header('strict-transport-security', 'max-age=31536000');
    reply.header('cache-control', reply.getHeader('cache-control') ?? 'no-store');
  });

  // JSON only: Fastify's default text/plain parser would let non-JSON bodies through.
  app.removeAllContentTypeParsers();
  // The raw bytes are kept because destinations receive the payload exactly as it was sent. Read
  // as one buffer, not as a string of chunks: a large body is then held once as bytes, once
  // parsed (issue 15), and the text made for the parser is garbage at once.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Bytes that are not UTF-8 are kept as the parser read them (invalid sequences replaced), as
  // before, so both stores keep and deliver the same text.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const text = (body as Buffer).toString();
    request.rawBody = isUtf8(body as Buffer) ? (body as Buffer) : text;
    parseJson(request, text, done);
  });

  installErrorHandling(app, (error) => deps.writeHealth.failed(error.message, clock.now()));
  installBodyBudget(app, server.inFlightBodyBytes);
  const routes: string[] = [];
  app.decorate('registeredRoutes', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`);
  });
  // Before any route: the OpenAPI document is built from the routes registered after it.
  registerOpenApi(app, APP_VERSION);
  app.register(async (api) => registerRoutes(api, deps, { authenticate, organizationLimit }));
  return app;
}
