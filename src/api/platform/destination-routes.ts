import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import type { Destination } from '../../models/entities.ts';
import type { Verification } from '../../services/verify-destination.ts';
import type { PlatformDeps } from './logs-routes.ts';
import { orgOf } from './platform-auth.ts';
import { parseInput } from '../../lib/parse-input.ts';
import { idParams, platformKey } from '../schemas.ts';

const verifyBody = z.strictObject({ method: z.enum(['POST', 'GET']).optional() }).optional();

export interface DestinationRouteDeps extends PlatformDeps {
  verify: (destination: Destination, method: 'POST' | 'GET') => Promise<Verification>;
}

export function destinationRoutes(app: FastifyInstance, deps: DestinationRouteDeps): void {
  // SPEC 3 and 6: the answer says whether the challenge came back; 200 either way, since the
  // check itself ran. `{"method": "GET"}` uses the query-parameter form of the handshake.
  const schema = {
    summary: 'Run the verification handshake with a destination',
    tags: ['destinations'],
    security: platformKey,
    params: idParams,
    body: verifyBody,
  };
  app.post<{ Params: { id: string } }>(
    '/platform/v1/destinations/:id/verify',
    { schema },
    async (request) => {
      const destination = deps.catalog.destination(orgOf(request), request.params.id);
      if (!destination) throw new ApiError('NOT_FOUND', 'Destination not found');
      const body = parseInput(verifyBody, request.body);
      return deps.verify(destination, body?.method ?? 'POST');
    },
  );
}
