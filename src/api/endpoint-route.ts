import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.ts';
import { sourceOf, type SourceAuth } from './auth/bearer.ts';
import { z } from 'zod';
import { acceptMessage, type AcceptDeps } from '../services/accept.ts';
import { dataModelMessage, sourceToken } from './schemas.ts';

/** Printable ASCII, as the IETF Idempotency-Key draft suggests; long enough for any UUID scheme. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** `POST /endpoint`: asynchronous event notification (SPEC 2.2). */
export function endpointRoute(app: FastifyInstance, deps: AcceptDeps & { authenticate: SourceAuth }): void {
  const schema = {
    summary: 'Send an asynchronous message (Data Model API); 200 once durably stored',
    tags: ['data-model'],
    security: sourceToken,
    body: dataModelMessage,
    headers: z.object({ 'idempotency-key': z.string().optional() }),
  };
  app.post('/endpoint', { preHandler: deps.authenticate, schema }, async (request, reply) => {
    const header = idempotencyKeyOf(request.headers['idempotency-key']);
    const { json, replayed } = await acceptMessage(deps, sourceOf(request), {
      body: request.body,
      rawBody: request.rawBody ?? '',
      idempotencyKey: header,
    });
    if (header !== undefined) reply.header('idempotent-replayed', String(replayed));
    return reply.type('application/json').send(json);
  });
}

/** The request's Idempotency-Key, checked (SPEC 2.2; also FHIR `$process-message`). */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header !== undefined && (typeof header !== 'string' || !IDEMPOTENCY_KEY.test(header)))
    throw new ApiError('INVALID_FIELD', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
  return header;
}
