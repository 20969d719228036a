/**
 * The one catalogue of errors Switchboard answers with. Each entry has a stable code, an HTTP
 * status and the Redox `Module` it belongs to; `docs/errors.md` lists them and a test keeps the
 * two in step. Handlers throw `ApiError`; `api/error-handler.ts` is the only place that turns an
 * error into an HTTP answer.
 */
export const ERRORS = {
  INVALID_JSON: { id: 531801, status: 400, module: 'DataModels' },
  UNSUPPORTED_CONTENT_TYPE: { id: 531802, status: 400, module: 'DataModels' },
  INVALID_FIELD: { id: 531803, status: 400, module: 'DataModels' },
  UNKNOWN_DATA_MODEL: { id: 531804, status: 404, module: 'DataModels' },
  PAYLOAD_TOO_LARGE: { id: 531805, status: 413, module: 'DataModels' },
  DESTINATION_ERROR: { id: 531806, status: 200, module: 'Send' },
  UNAUTHORIZED: { id: 531810, status: 401, module: 'Auth' },
  FORBIDDEN: { id: 531811, status: 403, module: 'Auth' },
  UNKNOWN_DESTINATION: { id: 531820, status: 404, module: 'Routing' },
  NOT_FOUND: { id: 531821, status: 404, module: 'Routing' },
  METHOD_NOT_ALLOWED: { id: 531822, status: 404, module: 'Routing' },
  CONFLICT: { id: 531823, status: 409, module: 'Routing' },
  QUERY_ROUTING: { id: 531824, status: 400, module: 'Routing' },
  IDEMPOTENCY_CONFLICT: { id: 531825, status: 409, module: 'Routing' },
  RATE_LIMITED: { id: 531830, status: 429, module: 'Auth' },
  SHUTTING_DOWN: { id: 531840, status: 502, module: 'Send' },
  STORE_UNAVAILABLE: { id: 531841, status: 503, module: 'Send' },
  BUSY: { id: 531845, status: 503, module: 'Send' },
  QUERY_TIMEOUT: { id: 531842, status: 504, module: 'Send' },
  DESTINATION_UNREACHABLE: { id: 531843, status: 502, module: 'Send' },
  ANSWER_TOO_LARGE: { id: 531844, status: 502, module: 'Send' },
  INTERNAL: { id: 531899, status: 500, module: 'Send' },
} as const satisfies Record<string, { id: number; status: number; module: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  /** Safe-to-echo fields of the request's Meta, for Data Model API answers. */
  readonly echo: Record<string, unknown>;
  readonly headers: Record<string, string>;
  /** Data Model API: one `Meta.Errors[]` item per text (validation problems); else the message. */
  readonly texts: string[] | undefined;
  /** FHIR API: the element each of `texts` is about (OperationOutcome `issue[].expression`). */
  readonly expressions: (string | undefined)[] | undefined;

  constructor(
    code: ErrorCode,
    text: string,
    options: {
      echo?: Record<string, unknown>;
      headers?: Record<string, string>;
      texts?: string[];
      expressions?: (string | undefined)[];
    } = {},
  ) {
    super(text);
    this.code = code;
    this.status = ERRORS[code].status;
    this.echo = options.echo ?? {};
    this.headers = options.headers ?? {};
    this.texts = options.texts;
    this.expressions = options.expressions;
  }
}

/** A storage failure: the request was not durably accepted. Maps to 503. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** The engine is shutting down and dropped the request before storing it. Maps to 502. */
export class ShuttingDownError extends Error {
  override name = 'ShuttingDownError';
}

/**
 * Start-up cannot go on, for a reason an operator can fix (another process on the data
 * directory, a port in use, a database newer than this code): `main.ts` prints the message as
 * one line, no stack trace, and exits 1.
 */
export class StartupRefusedError extends Error {
  override name = 'StartupRefusedError';
}
