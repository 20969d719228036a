import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppDeps } from '../app.ts';
import { ClientAssertions } from './auth/client-assertion.ts';
import type { SourceAuth } from './auth/bearer.ts';
import { legacyAuthRoutes } from './auth/legacy-routes.ts';
import { metadataRoute } from './auth/metadata-route.ts';
import { tokenRoute } from './auth/token-route.ts';
import { endpointRoute } from './endpoint-route.ts';
import type { AcceptDeps } from '../services/accept.ts';
import { fhirRoutes } from './fhir/fhir-routes.ts';
import { healthRoutes } from './health-routes.ts';
import { metricsRoute } from './metrics-route.ts';
import { openApiRoute } from './openapi.ts';
import { alertsRoutes } from './platform/alerts-routes.ts';
import { bulkRetryRoute } from './platform/bulk-retry-route.ts';
import { destinationRoutes } from './platform/destination-routes.ts';
import { logsRoutes } from './platform/logs-routes.ts';
import { auditRoutes } from './platform/audit-routes.ts';
import { catalogRoutes } from './platform/catalog-routes.ts';
import type { PlatformDeps } from './platform/logs-routes.ts';
import { organizationRoutes } from './platform/organization-routes.ts';
import { requireAdminOrOrganization, requireOrganization } from './platform/platform-auth.ts';
import { queueRoutes } from './platform/queue-routes.ts';
import { queryRoute } from './query-route.ts';
import { verifyDestination } from '../services/verify-destination.ts';
import { dashboardPlugin } from '../dashboard/dashboard-plugin.ts';
import { OperatorActions } from '../services/operator-actions.ts';
import { randomToken } from '../lib/secrets.ts';

/** Every route of the HTTP API, each family in its own context (parsers, hooks). */
export function registerRoutes(
  app: FastifyInstance,
  deps: AppDeps,
  auth: {
    authenticate: SourceAuth;
    organizationLimit: (request: FastifyRequest, orgId: string) => Promise<void>;
  },
): void {
  const { config, store, catalog, clock, tokens } = deps;
  const { authenticate, organizationLimit } = auth;
  openApiRoute(app);
  healthRoutes(app, { store, writeHealth: deps.writeHealth, clock });
  metricsRoute(app, { metrics: deps.metrics, token: config.metrics.token });
  app.register(async (oauth) => {
    // Token requests are form-encoded (RFC 6749); URLSearchParams is the whole parser needed.
    oauth.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    tokenRoute(oauth, {
      catalog,
      tokens,
      assertions: new ClientAssertions({ catalog, oneTimeKeys: store.oneTimeKeys, clock }),
      lifetimeSeconds: config.server.accessTokenSeconds,
      publicUrl: config.server.publicUrl,
      signIns: deps.signIns,
    });
    metadataRoute(oauth, { publicUrl: config.server.publicUrl });
    legacyAuthRoutes(oauth, {
      catalog,
      tokens,
      oneTimeKeys: store.oneTimeKeys,
      clock,
      accessSeconds: config.server.legacyTokenSeconds,
      refreshSeconds: config.server.refreshTokenSeconds,
      signIns: deps.signIns,
    });
  });
  const acceptDeps: AcceptDeps = {
    intake: store.intake,
    catalog,
    clock,
    onAccepted: (source, destinationIds) => {
      deps.writeHealth.succeeded();
      deps.metrics.accepted(source.orgId, source.id);
      if (destinationIds.length > 0)
        deps.wakeDelivery(destinationIds.map((destinationId) => ({ orgId: source.orgId, destinationId })));
    },
    idempotencyWindowMs: config.server.idempotencyWindowMs,
  };
  endpointRoute(app, { ...acceptDeps, authenticate });
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
  app.register(async (fhir) =>
    fhirRoutes(fhir, { ...queryDeps, publicUrl: config.server.publicUrl, accept: acceptDeps }),
  );
  const actions = new OperatorActions({
    operators: store.operators,
    clock,
    onQueueChanged: deps.wakeDelivery,
  });
  app.register(async (dashboard) =>
    dashboardPlugin(dashboard, {
      operators: store.operators,
      oneTimeKeys: store.oneTimeKeys,
      catalog,
      admin: deps.catalogAdmin,
      clock,
      adminKey: config.server.adminKey,
      sessionKey: await store.catalog.getOrCreateSetting('dashboard_session_key', randomToken(32)),
      verify: (destination, method) =>
        verifyDestination(
          { client: deps.queryClient, clock, settings: config.delivery },
          destination,
          method,
        ),
      actions,
    }),
  );
  app.register(async (organizations) => {
    organizations.addHook(
      'preHandler',
      requireAdminOrOrganization(catalog, config.server.adminKey, organizationLimit),
    );
    organizationRoutes(organizations, { catalog, admin: deps.catalogAdmin });
  });
  app.register(async (platform) => {
    platform.addHook('preHandler', requireOrganization(catalog, organizationLimit));
    const platformDeps: PlatformDeps = {
      operators: store.operators,
      catalog,
      clock,
      onQueueChanged: deps.wakeDelivery,
      actions,
    };
    catalogRoutes(platform, { catalog, admin: deps.catalogAdmin });
    auditRoutes(platform, platformDeps);
    logsRoutes(platform, platformDeps);
    bulkRetryRoute(platform, platformDeps);
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
}
