import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { DATA_MODELS } from '../models/data-models.ts';
import type { DashboardDeps } from './dashboard-plugin.ts';
import { actorOf, back, ctxOf, filled, formOf, hide, type Req } from './dashboard-pages.ts';
import type { Html } from './html.ts';
import { alertsPage, auditPage, configPage, destinationEditPage, secretOnce } from './pages/config.ts';

type Show = (
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  active: string,
  content: Html,
) => FastifyReply;

/** Configuration (sources, destinations, subscriptions, the profile), alerts and the audit trail. */
export function configPages(app: FastifyInstance, deps: DashboardDeps, show: Show): void {
  const { operators, catalog, admin } = deps;
  // --- configuration ---
  app.get('/dashboard/config', hide, async (request, reply) => {
    const { orgId } = ctxOf(request);
    const org = catalog.organization(orgId);
    if (!org) throw new ApiError('NOT_FOUND', 'Organization not found');
    const data = {
      org,
      sources: catalog.sourcesOf(orgId),
      destinations: catalog.destinationsOf(orgId),
      subscriptions: catalog.subscriptionsOf(orgId),
      dataModels: [...DATA_MODELS],
    };
    return show(request, reply, 'Configuration', 'config', configPage(ctxOf(request), data));
  });
  app.post('/dashboard/config/organization', hide, async (request, reply) => {
    const form = formOf(request);
    const webhooks = (form.alertWebhooks ?? '')
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
    await admin.updateOrganization(actorOf(request), ctxOf(request).orgId, {
      name: form.name,
      alertEmail: form.alertEmail || null,
      alertWebhooks: webhooks,
    });
    return back(reply, '/dashboard/config', 'Profile saved.');
  });
  app.post('/dashboard/config/organizations', hide, async (request, reply) => {
    if (!ctxOf(request).admin) throw new ApiError('FORBIDDEN', 'Only the admin key creates organizations');
    const form = formOf(request);
    const { organization, platformKey } = await admin.createOrganization(
      actorOf(request),
      filled(form, ['id', 'name']),
    );
    return show(
      request,
      reply,
      `Organization ${organization.id} created`,
      'config',
      secretOnce(`The first platform key of ${organization.name}.`, platformKey, '/dashboard/config'),
    );
  });
  app.post('/dashboard/config/destinations', hide, async (request, reply) => {
    const d = await admin.createDestination(
      actorOf(request),
      ctxOf(request).orgId,
      filled(formOf(request), [
        'id',
        'name',
        'environment',
        'url',
        'fhirBaseUrl',
        'verificationToken',
        'signingSecret',
      ]),
    );
    return back(reply, '/dashboard/config', `Destination ${d.id} created.`);
  });
  app.get('/dashboard/config/destinations/:id', hide, async (request: Req, reply) => {
    const d = catalog.destination(ctxOf(request).orgId, request.params.id);
    if (!d) throw new ApiError('NOT_FOUND', 'Destination not found');
    return show(request, reply, `Destination ${d.id}`, 'config', destinationEditPage(ctxOf(request), d));
  });
  app.post('/dashboard/config/destinations/:id', hide, async (request: Req, reply) => {
    const form = formOf(request);
    const timeout = form.timeoutMs ? Number(form.timeoutMs) : null;
    await admin.updateDestination(actorOf(request), ctxOf(request).orgId, request.params.id, {
      name: form.name,
      environment: form.environment,
      url: form.url,
      fhirBaseUrl: form.fhirBaseUrl || null,
      timeoutMs: timeout,
    });
    return back(reply, '/dashboard/config', `Destination ${request.params.id} saved.`);
  });
  app.post('/dashboard/config/destinations/:id/delete', hide, async (request: Req, reply) => {
    const force = formOf(request).force === 'true';
    try {
      const { failedLogs } = await admin.deleteDestination(
        actorOf(request),
        ctxOf(request).orgId,
        request.params.id,
        force,
      );
      return back(
        reply,
        '/dashboard/config',
        `Destination ${request.params.id} deleted${failedLogs ? `; ${failedLogs} pending logs failed` : ''}.`,
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && /pending/.test(error.message))
        throw new ApiError(
          'CONFLICT',
          `Destination ${request.params.id} still has pending logs. Open it (Edit), tick “Also fail its pending logs” and delete again, or let its queue drain first.`,
        );
      throw error;
    }
  });
  app.post('/dashboard/config/destinations/:id/verify', hide, async (request: Req, reply) => {
    const d = catalog.destination(ctxOf(request).orgId, request.params.id);
    if (!d) throw new ApiError('NOT_FOUND', 'Destination not found');
    const result = await deps.verify(d, 'POST');
    return back(
      reply,
      '/dashboard/config',
      result.verified
        ? `${d.name} verified: the challenge came back.`
        : `${d.name} did not verify: ${result.reason ?? `HTTP ${result.statusCode ?? '—'}`}.`,
    );
  });
  app.post('/dashboard/config/sources', hide, async (request, reply) => {
    const { source, clientSecret } = await admin.createSource(
      actorOf(request),
      ctxOf(request).orgId,
      filled(formOf(request), ['id', 'name', 'environment', 'clientId']),
    );
    return show(
      request,
      reply,
      `Source ${source.id} created`,
      'config',
      secretOnce(
        `The client secret of ${source.name} (client ID ${source.clientId}).`,
        clientSecret ?? '',
        '/dashboard/config',
      ),
    );
  });
  app.post('/dashboard/config/sources/:id/secret', hide, async (request: Req, reply) => {
    const { source, clientSecret } = await admin.rotateSourceSecret(
      actorOf(request),
      ctxOf(request).orgId,
      request.params.id,
      {},
    );
    return show(
      request,
      reply,
      `Secret of ${source.id} rotated`,
      'config',
      secretOnce(
        `The new client secret of ${source.name}; the old one no longer works.`,
        clientSecret,
        '/dashboard/config',
      ),
    );
  });
  app.post('/dashboard/config/sources/:id/delete', hide, async (request: Req, reply) => {
    await admin.deleteSource(actorOf(request), ctxOf(request).orgId, request.params.id);
    return back(reply, '/dashboard/config', `Source ${request.params.id} deleted.`);
  });
  app.post('/dashboard/config/subscriptions', hide, async (request, reply) => {
    const form = formOf(request);
    const eventTypes = (form.eventTypes ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    await admin.createSubscription(actorOf(request), ctxOf(request).orgId, {
      ...filled(form, ['source', 'dataModel', 'destination']),
      ...(eventTypes.length ? { eventTypes } : {}),
    });
    return back(reply, '/dashboard/config', 'Subscription created.');
  });
  app.post('/dashboard/config/subscriptions/:id/delete', hide, async (request: Req, reply) => {
    await admin.deleteSubscription(actorOf(request), ctxOf(request).orgId, request.params.id);
    return back(reply, '/dashboard/config', 'Subscription deleted.');
  });

  // --- alerts and audit ---
  app.get('/dashboard/alerts', hide, async (request, reply) => {
    const { alerts } = await operators.listAlerts(ctxOf(request).orgId, { limit: 100 });
    return show(request, reply, 'Alerts', 'alerts', alertsPage(alerts));
  });
  app.get('/dashboard/audit', hide, async (request: Req, reply) => {
    const cursor = request.query.cursor;
    const result = await operators.listAudit(ctxOf(request).orgId, {
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    return show(request, reply, 'Audit', 'audit', auditPage(result.entries, result.nextCursor));
  });
}
