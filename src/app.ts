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
import { ClientAssertions } from './api/auth/client-assertion.ts';
import { RateLimiter } from './api/rate-limit/rate-limit.ts';
import type { RateCounter } from './api/rate-limit/rolling-window.ts';
import { legacyAuthRoutes } from './api/auth/legacy-routes.ts';
import { metadataRoute } from './api/auth/metadata-route.ts';
import { tokenRoute } from './api/auth/token-route.ts';
import { endpointRoute } from './api/endpoint-route.ts';
import { fhirRoutes } from './api/fhir/fhir-routes.ts';
import { queryRoute } from './api/query-route.ts';
import type { QueryClient } from './delivery/query-client.ts';
import { installErrorHandling, sendError } from './api/error-handler.ts';
import { healthRoutes } from './api/health-routes.ts';
import { alertsRoutes } from './api/platform/alerts-routes.ts';
import { destinationRoutes } from './api/platform/destination-routes.ts';
import { verifyDestination } from './services/verify-destination.ts';
import { logsRoutes } from './api/platform/logs-routes.ts';
import { requireOrganization } from './api/platform/platform-auth.ts';
import { queueRoutes } from './api/platform/queue-routes.ts';
import { metricsRoute } from './api/metrics-route.ts';
import type { Metrics } from './metrics/metrics.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
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
  /** Wakes delivery after new work was stored or a queue changed. */
  wakeDelivery: () => void;
  metrics: Metrics;
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

/** Builds the HTTP application without listening, so tests can drive it on any port. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { config, store, catalog, clock, tokens } = deps;
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
  // The raw text is kept because destinations receive the payload exactly as it was sent.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });

  installErrorHandling(app);
  healthRoutes(app, store);
  metricsRoute(app, { metrics: deps.metrics, token: config.metrics.token });
  app.register(async (auth) => {
    // Token requests are form-encoded (RFC 6749); URLSearchParams is the whole parser needed.
    auth.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    tokenRoute(auth, {
      catalog,
      tokens,
      assertions: new ClientAssertions({ catalog, oneTimeKeys: store.oneTimeKeys, clock }),
      lifetimeSeconds: config.server.accessTokenSeconds,
      publicUrl: config.server.publicUrl,
    });
    metadataRoute(auth, { publicUrl: config.server.publicUrl });
    legacyAuthRoutes(auth, {
      catalog,
      tokens,
      oneTimeKeys: store.oneTimeKeys,
      clock,
      accessSeconds: config.server.legacyTokenSeconds,
      refreshSeconds: config.server.refreshTokenSeconds,
    });
  });
  endpointRoute(app, {
    intake: store.intake,
    catalog,
    clock,
    authenticate,
    onAccepted: (source, pending) => {
      deps.metrics.accepted(source.orgId, source.id);
      if (pending) deps.wakeDelivery();
    },
    idempotencyWindowMs: config.server.idempotencyWindowMs,
  });
  const queryDeps = {
    intake: store.intake,
    catalog,
    clock,
    authenticate,
    logger: deps.logger,
    client: deps.queryClient,
    settings: config.delivery,
    excerptBytes: config.delivery.responseExcerptBytes,
  };
  queryRoute(app, queryDeps);
  app.register(async (fhir) => fhirRoutes(fhir, queryDeps));
  app.register(async (platform) => {
    platform.addHook('preHandler', requireOrganization(catalog, organizationLimit));
    const platformDeps = { operators: store.operators, catalog, clock, onQueueChanged: deps.wakeDelivery };
    logsRoutes(platform, platformDeps);
    queueRoutes(platform, platformDeps);
    alertsRoutes(platform, platformDeps);
    destinationRoutes(platform, {
      ...platformDeps,
      verify: (destination, method) =>
        verifyDestination(
          { client: deps.queryClient, clock, settings: config.delivery },
          destination,
          method,
        ),
    });
  });
  return app;
}
