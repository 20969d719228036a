import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

/**
 * A budget of request body bytes in flight (issue 15): what the server holds of bodies it is
 * reading or handling at once. A request whose declared `Content-Length` would take the total
 * over the budget is refused with 503 and `Retry-After` before its body is read, so a flood of
 * large messages cannot take the process's memory (each accepted byte is held a few times over
 * while it is parsed, validated and stored). A chunked body is counted as it streams in and
 * refused once it would pass the budget. Bytes go back when the answer is sent or the client
 * goes away. A request alone bigger than the budget is still taken when nothing else is in
 * flight, so the payload limit, not the budget, decides what fits at all.
 */
export function installBodyBudget(app: FastifyInstance, budgetBytes: number): void {
  let inFlight = 0;
  const held = new WeakMap<FastifyRequest, number>();
  const take = (request: FastifyRequest, bytes: number): boolean => {
    if (inFlight > 0 && inFlight + bytes > budgetBytes) return false;
    inFlight += bytes;
    held.set(request, (held.get(request) ?? 0) + bytes);
    return true;
  };
  const giveBack = (request: FastifyRequest): void => {
    inFlight -= held.get(request) ?? 0;
    held.delete(request);
  };
  const busy = (): ApiError =>
    new ApiError(
      'BUSY',
      'Switchboard is taking in as much data as it holds at once; nothing was stored. Retry.',
      {
        headers: { 'retry-after': '1' },
      },
    );
  app.addHook('onRequest', async (request) => {
    const length = Number(request.headers['content-length']);
    if (Number.isFinite(length) && length > 0 && !take(request, length)) throw busy();
  });
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (request.headers['content-length'] !== undefined) return payload;
    return payload.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          done(take(request, chunk.length) ? null : busy(), chunk);
        },
      }),
    );
  });
  app.addHook('onResponse', async (request) => giveBack(request));
  app.addHook('onRequestAbort', async (request) => giveBack(request));
}
