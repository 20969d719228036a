import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';
import { DATA_MODELS } from '../models/data-models.ts';
import type { Operator } from '../services/operator-actions.ts';
import type { Actor } from '../services/catalog-admin.ts';
import { logFilter, searchQuery } from '../api/platform/logs-routes.ts';
import { parseInput } from '../lib/parse-input.ts';
import type { DashboardDeps } from './dashboard-plugin.ts';
import { sendPage } from './dashboard-plugin.ts';
import type { html } from './html.ts';
import { notice, page, type PageContext } from './layout.ts';
import { configPages } from './config-pages.ts';
import { logDetailPage } from './pages/log-detail.ts';
import { bulkRetryConfirm, bulkRetryDone, logsPage, SEARCH_FIELDS, type SearchForm } from './pages/logs.ts';
import { queuesTable } from './pages/queues.ts';

export type Req = FastifyRequest<{ Params: { id: string }; Querystring: Record<string, string> }>;
export type Form = Record<string, string | undefined>;

export const hide = { schema: { hide: true } };
export const ctxOf = (request: FastifyRequest): PageContext => {
  // Set by the session hook before any of these routes runs.
  if (!request.page) throw new ApiError('UNAUTHORIZED', 'Sign in first');
  return request.page;
};
export const actorOf = (request: FastifyRequest): Actor => ({ name: ctxOf(request).actor });
const operatorOf = (request: FastifyRequest): Operator => ({
  orgId: ctxOf(request).orgId,
  actor: ctxOf(request).actor,
});
export const formOf = (request: FastifyRequest): Form => (request.body ?? {}) as Form;
/** Empty form fields are absent fields (an optional URL left blank is no URL). */
export const filled = (form: Form, names: string[]): Record<string, string> =>
  Object.fromEntries(names.flatMap((n) => (form[n] ? [[n, form[n]]] : [])));
export const back = (reply: FastifyReply, to: string, message?: string): FastifyReply =>
  reply.redirect(
    message ? `${to}${to.includes('?') ? '&' : '?'}notice=${encodeURIComponent(message)}` : to,
    303,
  );

/** The search form's fields, as typed, and the store's filter from them (the API's validation). */
function search(query: Record<string, string>): { form: SearchForm; filter: ReturnType<typeof logFilter> } {
  const form: SearchForm = {};
  for (const name of SEARCH_FIELDS) if (query[name]) form[name] = query[name];
  // datetime-local has no offset: the form says the times are UTC.
  const utc = (value: string | undefined) =>
    value && /T\d\d:\d\d(:\d\d)?$/.test(value) ? `${value}Z` : value;
  const parsed = parseInput(searchQuery, { ...form, from: utc(form.from), to: utc(form.to) });
  return { form, filter: logFilter(parsed) };
}

export function dashboardPages(app: FastifyInstance, deps: DashboardDeps): void {
  const { operators, catalog, clock } = deps;
  const names =
    (orgId: string) =>
    (kind: 'source' | 'destination', id: string): string =>
      (kind === 'source' ? catalog.source(orgId, id)?.name : catalog.destination(orgId, id)?.name) ?? id;
  const show = (
    request: FastifyRequest,
    reply: FastifyReply,
    title: string,
    active: string,
    content: ReturnType<typeof html>,
  ) =>
    sendPage(
      reply,
      page(ctxOf(request), title, active, content, notice((request.query as Record<string, string>).notice)),
    );

  app.get('/dashboard', hide, async (_request, reply) => reply.redirect('/dashboard/logs', 303));

  // --- logs ---
  app.get('/dashboard/logs', hide, async (request: Req, reply) => {
    const { orgId } = ctxOf(request);
    const { form, filter } = search(request.query);
    const cursor = request.query.cursor;
    const result = await operators.searchLogs(
      orgId,
      filter,
      { limit: 50, ...(cursor ? { cursor } : {}) },
      clock.now(),
    );
    const choices = {
      sources: catalog.sourcesOf(orgId).map((s): [string, string] => [s.id, s.name]),
      destinations: catalog.destinationsOf(orgId).map((d): [string, string] => [d.id, d.name]),
      dataModels: [...DATA_MODELS],
    };
    return show(
      request,
      reply,
      'Logs',
      'logs',
      logsPage(ctxOf(request), form, result, choices, names(orgId)),
    );
  });

  app.get('/dashboard/logs/retry', hide, async (request: Req, reply) => {
    const { form, filter } = search(request.query);
    const count = await operators.countRetriable(ctxOf(request).orgId, filter, await operators.logMark());
    return show(
      request,
      reply,
      `Retry ${count} logs?`,
      'logs',
      bulkRetryConfirm(ctxOf(request), form, count),
    );
  });

  app.post('/dashboard/logs/retry', hide, async (request: Req, reply) => {
    const { filter } = search(request.query);
    const made: { id: string; retryOf: string }[] = [];
    for await (const pageOf of deps.actions.retryAll(operatorOf(request), filter)) made.push(...pageOf);
    return show(request, reply, 'Logs retried', 'logs', bulkRetryDone(made));
  });

  app.get('/dashboard/logs/:id', hide, async (request: Req, reply) => {
    const { orgId } = ctxOf(request);
    const now = clock.now();
    const detail = await operators.getLog(orgId, request.params.id, now);
    if (!detail) throw new ApiError('NOT_FOUND', 'Log not found');
    const queue =
      detail.log.status === 'pending' && detail.log.destinationId
        ? await operators.getQueue(orgId, detail.log.destinationId, now)
        : undefined;
    return show(
      request,
      reply,
      `Log ${detail.log.id}`,
      'logs',
      logDetailPage(ctxOf(request), detail, queue, names(orgId), now),
    );
  });

  app.post('/dashboard/logs/:id/retry', hide, async (request: Req, reply) => {
    const log = await deps.actions.retry(operatorOf(request), request.params.id);
    return back(reply, `/dashboard/logs/${log.id}`, 'Retried as a new log at the back of the queue.');
  });

  // --- queues ---
  const queueViews = async (orgId: string) => {
    const now = clock.now();
    const views = await Promise.all(
      catalog
        .destinationsOf(orgId)
        .map(async (d) => ({ name: d.name, view: await operators.getQueue(orgId, d.id, now) })),
    );
    return views.flatMap((v) => (v.view ? [{ name: v.name, view: v.view }] : []));
  };
  app.get('/dashboard/queues', hide, async (request, reply) =>
    show(
      request,
      reply,
      'Queues',
      'queues',
      queuesTable(ctxOf(request), await queueViews(ctxOf(request).orgId), clock.now()),
    ),
  );
  app.get('/dashboard/queues/table', hide, async (request, reply) =>
    sendPage(reply, queuesTable(ctxOf(request), await queueViews(ctxOf(request).orgId), clock.now()).text),
  );
  app.post(
    '/dashboard/queues/:id/:action',
    hide,
    async (request: FastifyRequest<{ Params: { id: string; action: string } }>, reply) => {
      const who = operatorOf(request);
      const { id, action } = request.params;
      const reason = formOf(request).reason?.slice(0, 2000) || null;
      let done: string;
      if (action === 'pause') {
        await deps.actions.pause(who, id, who.actor, reason);
        done = 'Paused.';
      } else if (action === 'resume') {
        await deps.actions.resume(who, id);
        done = 'Resumed.';
      } else if (action === 'skip') {
        const key = formOf(request).key;
        const skipped = await deps.actions.skip(who, id, who.actor, reason, key?.slice(0, 256));
        done = `Skipped ${skipped.id}; it is failed, with your name and reason.`;
      } else throw new ApiError('NOT_FOUND', 'No such action');
      return back(reply, '/dashboard/queues', done);
    },
  );

  configPages(app, deps, show);
}
