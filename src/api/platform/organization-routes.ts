import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Catalog } from '../../catalog/catalog.ts';
import { organizationSchema } from '../../catalog/schemas.ts';
import { ApiError } from '../../errors.ts';
import type { CatalogAdmin } from '../../services/catalog-admin.ts';
import { idParams, platformKey } from '../schemas.ts';
import { actorOf } from './platform-auth.ts';
import { presentOrganization } from './present-catalog.ts';

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

/** Admin requests carry no organization; a platform key's carry its own. */
const isAdmin = (request: FastifyRequest): boolean =>
  request.actor === 'admin' && request.orgId === undefined;

/**
 * `/platform/v1/organizations` (SPEC 6): the admin key creates, lists, changes and deletes
 * organizations; a platform key reads and changes its own organization's profile (name, alert
 * email, alert webhooks) and sees no other.
 */
export function organizationRoutes(
  app: FastifyInstance,
  deps: { catalog: Catalog; admin: CatalogAdmin },
): void {
  const { catalog, admin } = deps;
  const doc = (summary: string, extra: Record<string, unknown> = {}) => ({
    schema: { summary, tags: ['organizations'], security: platformKey, ...extra },
  });
  const adminOnly = (request: FastifyRequest): void => {
    if (!isAdmin(request)) throw new ApiError('FORBIDDEN', 'Only the admin key manages organizations');
  };
  /** The organization, if the caller may see it. */
  const visible = (request: IdRequest) => {
    const org = catalog.organization(request.params.id);
    if (!org || (!isAdmin(request) && request.orgId !== org.id))
      throw new ApiError('NOT_FOUND', 'Organization not found');
    return org;
  };

  app.get(
    '/platform/v1/organizations',
    doc('List organizations (a platform key: its own)'),
    async (request) => ({
      organizations: (isAdmin(request)
        ? catalog.organizations()
        : catalog.organizations().filter((o) => o.id === request.orgId)
      ).map(presentOrganization),
    }),
  );
  app.post(
    '/platform/v1/organizations',
    doc('Create an organization (admin key); its first platform key is answered once', {
      body: organizationSchema,
    }),
    async (request, reply) => {
      adminOnly(request);
      const { organization, platformKey: key } = await admin.createOrganization(
        actorOf(request),
        request.body,
      );
      return reply.code(201).send({ organization: presentOrganization(organization), platformKey: key });
    },
  );
  app.get(
    '/platform/v1/organizations/:id',
    doc('Read an organization', { params: idParams }),
    async (request: IdRequest) => presentOrganization(visible(request)),
  );
  app.patch(
    '/platform/v1/organizations/:id',
    doc("Change an organization's profile", { params: idParams, body: organizationSchema.partial() }),
    async (request: IdRequest) => {
      const org = visible(request);
      return presentOrganization(await admin.updateOrganization(actorOf(request), org.id, request.body));
    },
  );
  app.delete(
    '/platform/v1/organizations/:id',
    doc('Delete an organization with no sources or destinations (admin key)', { params: idParams }),
    async (request: IdRequest) => {
      adminOnly(request);
      await admin.deleteOrganization(actorOf(request), visible(request).id);
      return { id: request.params.id, deleted: true };
    },
  );
}
