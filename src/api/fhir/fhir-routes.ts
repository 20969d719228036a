import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import { FHIR_ID, FHIR_RESOURCE_TYPES } from '../../models/fhir.ts';
import { runFhirQuery, type FhirRequest } from '../../services/fhir-query.ts';
import type { QueryDeps } from '../../services/query.ts';
import { sourceOf, type SourceAuth } from '../auth/bearer.ts';
import { hangUpSignal } from '../query-route.ts';
import { FORM, fhirParams, fhirReadParams, sourceToken } from '../schemas.ts';
import { capabilityStatement } from './capability-statement.ts';
import { idempotencyKeyOf } from '../endpoint-route.ts';
import { acceptFhirMessage } from '../../services/fhir-message.ts';
import type { AcceptDeps } from '../../services/accept.ts';

interface Params {
  org: string;
  env: string;
  type: string;
  id?: string;
}

const PREFIX = '/fhir/R4/:org/:env/:type';

/** FHIR R4 reads and searches (SPEC 2.3). Errors are OperationOutcomes (see error-handler.ts). */
export function fhirRoutes(
  app: FastifyInstance,
  deps: QueryDeps & { authenticate: SourceAuth; publicUrl?: string; accept: AcceptDeps },
): void {
  // A POST _search body is form-encoded (FHIR 3.1.0.2.2); it is forwarded as received.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) => {
      request.rawBody = body as string;
      done(null, body);
    },
  );
  // FHIR's own JSON type, parsed like application/json (same limits, same poisoning checks).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });
  const preHandler = deps.authenticate;

  /** The token's source, when the path's organization and environment are its own. */
  const endpointSource = (request: FastifyRequest<{ Params: { org: string; env: string } }>) => {
    const source = sourceOf(request);
    // Anything else does not exist, for this client.
    if (source.orgId !== request.params.org || source.environment !== request.params.env)
      throw new ApiError('NOT_FOUND', 'No such FHIR endpoint for this client');
    return source;
  };
  /** The path's resource id, checked against FHIR's id rule. */
  const resourceId = (request: FastifyRequest<{ Params: Params }>): string => {
    const id = request.params.id ?? '';
    if (!FHIR_ID.test(id))
      throw new ApiError('INVALID_FIELD', `Invalid FHIR resource id - ${id.slice(0, 80)}`);
    return id;
  };

  const handle = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
    req: FhirRequest,
  ) => {
    const source = endpointSource(request);
    const answer = await runFhirQuery(deps, source, req, hangUpSignal(reply));
    return reply.code(answer.status).type(answer.contentType).send(answer.body);
  };

  const common = (request: FastifyRequest<{ Params: Params }>) => {
    const { type } = request.params;
    if (!FHIR_RESOURCE_TYPES.has(type))
      throw new ApiError('NOT_FOUND', `Unknown FHIR resource type - ${type}`);
    const header = request.headers['x-switchboard-destination'];
    const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    return { resourceType: type, search, destinationId: typeof header === 'string' ? header : undefined };
  };

  const tags = ['fhir'];
  const search = {
    summary: 'FHIR search, proxied to the destination',
    tags,
    security: sourceToken,
    params: fhirParams,
  };
  app.get<{ Params: Params }>(`${PREFIX}/_search`, { preHandler, schema: search }, (request, reply) =>
    handle(request, reply, { ...common(request), method: 'GET', operation: { kind: 'search' } }),
  );
  const post = { ...search, summary: 'FHIR search by POST (form-encoded), proxied', consumes: [FORM] };
  app.post<{ Params: Params }>(`${PREFIX}/_search`, { preHandler, schema: post }, (request, reply) => {
    if (typeof request.body !== 'string')
      throw new ApiError(
        'UNSUPPORTED_CONTENT_TYPE',
        'A FHIR _search by POST is sent as application/x-www-form-urlencoded',
      );
    return handle(request, reply, {
      ...common(request),
      method: 'POST',
      operation: { kind: 'search' },
      body: request.rawBody?.toString() ?? '',
    });
  });
  app.get<{ Params: Params }>(
    PREFIX,
    {
      preHandler,
      schema: { ...search, summary: 'FHIR search (GET {type}?params), proxied to the destination' },
    },
    (request, reply) =>
      handle(request, reply, { ...common(request), method: 'GET', operation: { kind: 'search' } }),
  );

  /** A create's or update's body: one resource of the path's type, as JSON. */
  const resourceBody = (request: FastifyRequest<{ Params: Params }>, id?: string): string => {
    const resource = request.body as { resourceType?: unknown; id?: unknown } | undefined;
    if (
      !resource ||
      typeof resource !== 'object' ||
      Array.isArray(resource) ||
      resource.resourceType !== request.params.type
    )
      throw new ApiError(
        'INVALID_FIELD',
        `The body must be a ${request.params.type} resource (resourceType "${request.params.type}")`,
      );
    if (id !== undefined && resource.id !== id)
      throw new ApiError('INVALID_FIELD', `The resource's id must be the id in the URL (${id})`);
    return request.rawBody?.toString() ?? JSON.stringify(resource);
  };
  const write = {
    tags,
    security: sourceToken,
    params: fhirParams,
    consumes: ['application/fhir+json', 'application/json'],
  };
  app.post<{ Params: Params }>(
    PREFIX,
    { preHandler, schema: { ...write, summary: 'FHIR create, written through to the destination' } },
    (request, reply) =>
      handle(request, reply, {
        ...common(request),
        method: 'POST',
        operation: { kind: 'create' },
        body: resourceBody(request),
      }),
  );
  app.put<{ Params: Params }>(
    `${PREFIX}/:id`,
    {
      preHandler,
      schema: {
        ...write,
        params: fhirReadParams,
        summary: 'FHIR update, written through to the destination',
      },
    },
    (request, reply) => {
      const id = resourceId(request);
      return handle(request, reply, {
        ...common(request),
        method: 'PUT',
        operation: { kind: 'update', id },
        body: resourceBody(request, id),
      });
    },
  );

  app.post<{ Params: { org: string; env: string } }>(
    '/fhir/R4/:org/:env/Bundle/$process-message',
    {
      preHandler,
      schema: {
        summary: 'A FHIR message (Bundle of type message): stored and delivered like /endpoint',
        tags,
        security: sourceToken,
        params: fhirParams.omit({ type: true }),
        consumes: ['application/fhir+json', 'application/json'],
      },
    },
    async (request, reply) => {
      const source = endpointSource(request);
      const key = idempotencyKeyOf(request.headers['idempotency-key']);
      const { outcome, replayed } = await acceptFhirMessage(deps.accept, source, {
        body: request.body,
        rawBody: request.rawBody ?? '',
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      if (key !== undefined) reply.header('idempotent-replayed', String(replayed));
      return reply.type('application/fhir+json').send(outcome);
    },
  );

  app.get<{ Params: { org: string; env: string } }>(
    '/fhir/R4/:org/:env/metadata',
    {
      schema: {
        summary: "Switchboard's CapabilityStatement (R4)",
        tags,
        params: fhirParams.omit({ type: true }),
      },
    },
    async (request, reply) =>
      reply
        .type('application/fhir+json')
        .send(capabilityStatement(deps.publicUrl ?? `${request.protocol}://${request.host}`, request.params)),
  );

  const read = {
    summary: 'FHIR read, proxied to the destination',
    tags,
    security: sourceToken,
    params: fhirReadParams,
  };
  app.get<{ Params: Params }>(`${PREFIX}/:id`, { preHandler, schema: read }, (request, reply) =>
    handle(request, reply, {
      ...common(request),
      method: 'GET',
      operation: { kind: 'read', id: resourceId(request) },
    }),
  );
}
