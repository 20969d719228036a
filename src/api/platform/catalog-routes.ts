import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Catalog } from '../../catalog/catalog.ts';
import {
  destinationSchema,
  platformKeySchema,
  sourceSchema,
  subscriptionSchema,
} from '../../catalog/schemas.ts';
import { ApiError } from '../../errors.ts';
import type { CatalogAdmin } from '../../services/catalog-admin.ts';
import { idParams, platformKey } from '../schemas.ts';
import { actorOf, orgOf } from './platform-auth.ts';
import {
  presentDestination,
  presentPlatformKey,
  presentSource,
  presentSubscription,
} from './present-catalog.ts';
import { parseInput } from '../../lib/parse-input.ts';

export interface CatalogRouteDeps {
  catalog: Catalog;
  admin: CatalogAdmin;
}

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

const deleteQuery = z.strictObject({
  force: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});

/** Create, list, read, update (PATCH) and delete of one resource kind (SPEC 6). */
function resourceRoutes(
  app: FastifyInstance,
  r: {
    path: string;
    tag: string;
    label: string;
    body: z.ZodObject;
    list: (orgId: string) => unknown[];
    read: (orgId: string, id: string) => unknown;
    create: (request: FastifyRequest) => Promise<unknown>;
    update: (request: IdRequest) => Promise<unknown>;
    remove: (request: IdRequest) => Promise<Record<string, unknown>>;
  },
): void {
  const doc = (summary: string, extra: Record<string, unknown> = {}) => ({
    schema: { summary, tags: [r.tag], security: platformKey, ...extra },
  });
  app.get(r.path, doc(`List ${r.label}s`), async (request) => ({ [r.tag]: r.list(orgOf(request)) }));
  app.post(r.path, doc(`Create a ${r.label}`, { body: r.body }), async (request, reply: FastifyReply) => {
    const created = await r.create(request);
    return reply.code(201).send(created);
  });
  app.get(`${r.path}/:id`, doc(`Read a ${r.label}`, { params: idParams }), async (request: IdRequest) => {
    const found = r.read(orgOf(request), request.params.id);
    // The id is not echoed: another organization's id answers exactly like one that never existed.
    if (found === undefined)
      throw new ApiError('NOT_FOUND', `${r.label.charAt(0).toUpperCase()}${r.label.slice(1)} not found`);
    return found;
  });
  app.patch(
    `${r.path}/:id`,
    doc(`Change some fields of a ${r.label} (null removes one)`, {
      params: idParams,
      body: r.body.partial(),
    }),
    (request: IdRequest) => r.update(request),
  );
  app.delete(
    `${r.path}/:id`,
    doc(`Delete a ${r.label}`, { params: idParams, querystring: deleteQuery }),
    async (request: IdRequest) => ({
      id: request.params.id,
      deleted: true,
      ...(await r.remove(request)),
    }),
  );
}

export function catalogRoutes(app: FastifyInstance, deps: CatalogRouteDeps): void {
  const { catalog, admin } = deps;
  const present =
    <T>(fn: (value: T) => Record<string, unknown>) =>
    (value: T | undefined) =>
      value === undefined ? undefined : fn(value);

  resourceRoutes(app, {
    path: '/platform/v1/sources',
    tag: 'sources',
    label: 'source',
    body: sourceSchema,
    list: (orgId) => catalog.sourcesOf(orgId).map(presentSource),
    read: (orgId, id) => present(presentSource)(catalog.source(orgId, id)),
    create: async (request) => {
      const { source, clientSecret } = await admin.createSource(
        actorOf(request),
        orgOf(request),
        request.body,
      );
      return { ...presentSource(source), ...(clientSecret ? { clientSecret } : {}) };
    },
    update: async (request) =>
      presentSource(
        await admin.updateSource(actorOf(request), orgOf(request), request.params.id, request.body),
      ),
    remove: async (request) => {
      await admin.deleteSource(actorOf(request), orgOf(request), request.params.id);
      return {};
    },
  });
  app.post(
    '/platform/v1/sources/:id/secret',
    {
      schema: {
        summary: "Rotate a source's client secret (the old one stops working); answered once",
        tags: ['sources'],
        security: platformKey,
        params: idParams,
        body: sourceSchema.pick({ clientSecret: true }).optional(),
      },
    },
    async (request: IdRequest) => {
      const { source, clientSecret } = await admin.rotateSourceSecret(
        actorOf(request),
        orgOf(request),
        request.params.id,
        request.body,
      );
      return { ...presentSource(source), clientSecret };
    },
  );

  resourceRoutes(app, {
    path: '/platform/v1/destinations',
    tag: 'destinations',
    label: 'destination',
    body: destinationSchema,
    list: (orgId) => catalog.destinationsOf(orgId).map(presentDestination),
    read: (orgId, id) => present(presentDestination)(catalog.destination(orgId, id)),
    create: async (request) =>
      presentDestination(await admin.createDestination(actorOf(request), orgOf(request), request.body)),
    update: async (request) =>
      presentDestination(
        await admin.updateDestination(actorOf(request), orgOf(request), request.params.id, request.body),
      ),
    remove: async (request) => {
      const { force } = parseInput(deleteQuery, request.query);
      return admin.deleteDestination(actorOf(request), orgOf(request), request.params.id, force ?? false);
    },
  });

  resourceRoutes(app, {
    path: '/platform/v1/subscriptions',
    tag: 'subscriptions',
    label: 'subscription',
    body: subscriptionSchema,
    list: (orgId) => catalog.subscriptionsOf(orgId).map(presentSubscription),
    read: (orgId, id) => present(presentSubscription)(catalog.subscription(orgId, id)),
    create: async (request) =>
      presentSubscription(await admin.createSubscription(actorOf(request), orgOf(request), request.body)),
    update: async (request) =>
      presentSubscription(
        await admin.updateSubscription(actorOf(request), orgOf(request), request.params.id, request.body),
      ),
    remove: async (request) => {
      await admin.deleteSubscription(actorOf(request), orgOf(request), request.params.id);
      return {};
    },
  });

  const keyDoc = (summary: string, extra: Record<string, unknown> = {}) => ({
    schema: { summary, tags: ['platform-keys'], security: platformKey, ...extra },
  });
  app.get(
    '/platform/v1/platform-keys',
    keyDoc("List the organization's platform keys (never the keys)"),
    async (request) => ({
      'platform-keys': catalog.platformKeysOf(orgOf(request)).map(presentPlatformKey),
    }),
  );
  app.post(
    '/platform/v1/platform-keys',
    keyDoc('Add a platform key; the key is answered once', { body: platformKeySchema }),
    async (request, reply) =>
      reply.code(201).send(await admin.createPlatformKey(actorOf(request), orgOf(request), request.body)),
  );
  app.delete(
    '/platform/v1/platform-keys/:id',
    keyDoc('Revoke a platform key', { params: idParams }),
    async (request: IdRequest) => {
      await admin.deletePlatformKey(actorOf(request), orgOf(request), request.params.id);
      return { id: request.params.id, deleted: true };
    },
  );
}
