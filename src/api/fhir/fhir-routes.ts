import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors.ts';
import { FHIR_ID, FHIR_RESOURCE_TYPES } from '../../models/fhir.ts';
import { runFhirQuery, type FhirRequest } from '../../services/fhir-query.ts';
import type { QueryDeps } from '../../services/query.ts';
import { sourceOf, type SourceAuth } from '../auth/bearer.ts';
import { hangUpSignal } from '../query-route.ts';
import { FORM, fhirParams, fhirReadParams, sourceToken } from '../schemas.ts';

interface Params {
  org: string;
  env: string;
  type: string;
  id?: string;
}

const PREFIX = '/fhir/R4/:org/:env/:type';

/** FHIR R4 reads and searches (SPEC 2.3). Errors are OperationOutcomes (see error-handler.ts). */
export function fhirRoutes(app: FastifyInstance, deps: QueryDeps & { authenticate: SourceAuth }): void {
  // A POST _search body is form-encoded (FHIR 3.1.0.2.2); it is forwarded as received.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) => {
      request.rawBody = body as string;
      done(null, body);
    },
  );
  const preHandler = deps.authenticate;

  const handle = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
    req: FhirRequest,
  ) => {
    const source = sourceOf(request);
    const { org, env } = request.params;
    // The path's organization and environment must be the token's; anything else does not exist.
    if (source.orgId !== org || source.environment !== env)
      throw new ApiError('NOT_FOUND', 'No such FHIR endpoint for this client');
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
  app.post<{ Params: Params }>(`${PREFIX}/_search`, { preHandler, schema: post }, (request, reply) =>
    handle(request, reply, {
      ...common(request),
      method: 'POST',
      operation: { kind: 'search' },
      body: request.rawBody ?? '',
    }),
  );
  const read = {
    summary: 'FHIR read, proxied to the destination',
    tags,
    security: sourceToken,
    params: fhirReadParams,
  };
  app.get<{ Params: Params }>(`${PREFIX}/:id`, { preHandler, schema: read }, (request, reply) => {
    const id = request.params.id ?? '';
    if (!FHIR_ID.test(id))
      throw new ApiError('INVALID_FIELD', `Invalid FHIR resource id - ${id.slice(0, 80)}`);
    return handle(request, reply, { ...common(request), method: 'GET', operation: { kind: 'read', id } });
  });
}
