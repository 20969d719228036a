import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { issueCodeFor, operationOutcome } from '../models/fhir.ts';
import { ApiError, ERRORS, ShuttingDownError, StoreUnavailableError, type ErrorCode } from '../errors.ts';

/**
 * The only place where an error becomes an HTTP answer. Known errors keep their catalogue
 * status and text; anything else is logged and answered as a bare 500 with nothing internal.
 * The body's shape follows the API family of the path: Redox `Meta.Errors` for the Data Model
 * API, RFC 6749 for the token endpoints and the OAuth metadata, a plain `error` object for the
 * Platform API.
 */
export function installErrorHandling(
  app: FastifyInstance,
  onStoreFailure: (error: StoreUnavailableError) => void = () => undefined,
): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (error instanceof StoreUnavailableError) onStoreFailure(error);
    const apiError = toApiError(error, pathOf(request.url));
    if (apiError.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
    return sendError(request, reply, apiError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new ApiError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}

export function toApiError(error: FastifyError | Error, path: string): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof StoreUnavailableError)
    return new ApiError('STORE_UNAVAILABLE', 'Storage is unavailable; nothing was stored. Retry later.', {
      headers: { 'retry-after': '5' },
    });
  if (error instanceof ShuttingDownError)
    return new ApiError('SHUTTING_DOWN', 'Switchboard is shutting down; nothing was stored. Retry.');
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UNSUPPORTED_CONTENT_TYPE', `Content-Type must be ${expectedContentType(path)}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('PAYLOAD_TOO_LARGE', 'Request body is larger than the payload limit');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('INVALID_JSON', 'Request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('INVALID_JSON', 'Request body is not valid JSON');
  }
  const status = (error as FastifyError).statusCode;
  if (/forbidden prototype property/i.test(error.message))
    return new ApiError(
      'INVALID_JSON',
      'Request body contains a forbidden key (__proto__ or constructor.prototype)',
    );
  if (error instanceof SyntaxError || (status === 400 && /JSON|prototype|constructor/i.test(error.message)))
    return new ApiError('INVALID_JSON', 'Request body is not valid JSON');
  if (status === 413)
    return new ApiError('PAYLOAD_TOO_LARGE', 'Request body is larger than the payload limit');
  if (status !== undefined && status >= 400 && status < 500)
    return new ApiError('INVALID_FIELD', 'The request could not be read');
  return new ApiError('INTERNAL', 'Unexpected error');
}

function expectedContentType(path: string): string {
  if (path.startsWith('/v2/auth')) return 'application/x-www-form-urlencoded';
  // A POST _search is form-encoded (FHIR 3.1.0.2.2); creates and updates are FHIR JSON.
  if (path.startsWith('/fhir/'))
    return /\/_search(\?|$)/.test(path)
      ? 'application/x-www-form-urlencoded (a FHIR _search by POST)'
      : 'application/fhir+json or application/json';
  return 'application/json';
}

/**
 * The path of a request target. An absolute-form target (`GET http://host/platform/v1/logs`) is
 * routed by its path, so its errors take that path's shape too.
 */
function pathOf(url: string): string {
  const origin = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i.exec(url);
  return origin ? url.slice(origin[0].length) || '/' : url;
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply {
  const catalogue = ERRORS[error.code];
  reply.code(error.status).headers(error.headers);
  const path = pathOf(request.url);
  if (path.startsWith('/v2/auth') || path.startsWith('/auth/') || path.startsWith('/.well-known/'))
    return reply.send({ error: oauthCode(error.code), error_description: error.message });
  if (path.startsWith('/fhir/')) {
    const severity = error.status >= 500 ? 'fatal' : 'error';
    const code = issueCodeFor(error.status);
    const outcome = operationOutcome(severity, code, error.message);
    if (error.texts)
      outcome.issue = error.texts.map((text, i) => {
        const expression = error.expressions?.[i];
        return { severity, code, details: { text }, ...(expression ? { expression: [expression] } : {}) };
      });
    return reply.type('application/fhir+json').send(outcome);
  }
  if (
    path.startsWith('/platform/') ||
    path.startsWith('/healthz') ||
    path.startsWith('/readyz') ||
    path.startsWith('/metrics')
  )
    return reply.send({ error: { code: error.code, message: error.message } });
  return reply.send({
    Meta: {
      ...error.echo,
      Errors: (error.texts ?? [error.message]).map((text) => ({
        ID: catalogue.id,
        Text: text,
        Type: path.startsWith('/query') ? 'query' : 'message',
        Module: catalogue.module,
      })),
    },
  });
}

function oauthCode(code: ErrorCode): string {
  if (code === 'UNAUTHORIZED') return 'invalid_client';
  if (code === 'INTERNAL' || code === 'STORE_UNAVAILABLE' || code === 'SHUTTING_DOWN') return 'server_error';
  return 'invalid_request';
}
