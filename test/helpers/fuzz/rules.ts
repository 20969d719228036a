// The rules every answer must keep, and the accounting of what its 200s promised to store.
import { ERRORS } from '../../../src/errors.ts';
import { expected, type Family, knownLogs, MARK, messageOfLog, NAMES, type Org } from './context.ts';
import { json } from './values.ts';

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Documented statuses per API (SPEC 2.4, docs/errors.md): storage is up and every destination
 * answers 200, so 502, 503 and 504 have no cause here, and 500 never has one. */
const STATUSES: Record<Family, number[]> = {
  oauth: [200, 400, 401, 404, 413],
  dm: [200, 400, 401, 404, 409, 413],
  fhir: [200, 400, 401, 404, 413],
  platform: [200, 201, 400, 401, 403, 404, 409, 413],
};

/** The API a path belongs to, as the server decides the shape of its error answers. */
export function familyOf(path: string): Family {
  if (path.startsWith('/v2/auth') || path.startsWith('/auth/') || path.startsWith('/.well-known/'))
    return 'oauth';
  if (path.startsWith('/fhir/')) return 'fhir';
  if (
    path.startsWith('/platform/') ||
    path.startsWith('/healthz') ||
    path.startsWith('/readyz') ||
    path.startsWith('/metrics')
  )
    return 'platform';
  return 'dm';
}

const BY_ID = new Map<number, { status: number; module: string }>(
  Object.values(ERRORS).map((e) => [e.id, e]),
);
const OAUTH_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unsupported_grant_type'];
// prettier-ignore
const STACK_OR_PATH = [/\n\s+at /, /\bat (async )?[\w$.<>]+ \(/, /\(\S+:\d+:\d+\)/, /node_modules/, /\/work\//, /file:\/\//, /\.ts:\d+/, /\/src\/\w+/];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

export type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What the server saw: the path (with its query), the method, and whose credential. */
export interface Sent {
  org?: Org;
  family: Family;
  path: string;
  method: string;
}

/** Every rule an answer breaks (none, when it keeps them all). */
export function check(sent: Sent, answer: Answer, requestText: string): string[] {
  const problems: string[] = [];
  const { status, headers } = answer;
  const text = answer.body.toString('utf8');
  if (status >= 500) problems.push(`status ${status}`);
  for (const [name, value] of Object.entries(SECURITY_HEADERS))
    if (headers[name] !== value) problems.push(`header ${name}: ${headers[name] ?? 'missing'}`);
  for (const pattern of STACK_OR_PATH)
    if (pattern.test(text) && !pattern.test(requestText)) problems.push(`leaks ${pattern}`);
  for (const org of ['acme', 'other'] as const) {
    if (sent.org === org) continue;
    const ids = [...text.matchAll(UUID)].map((m) => m[0]).filter((id) => knownLogs[org].has(id));
    for (const secret of [MARK[org], ...ids])
      if (text.includes(secret) && !requestText.includes(secret)) problems.push(`shows ${org}'s ${secret}`);
    if (NAMES[org].test(text) && !NAMES[org].test(requestText)) problems.push(`shows ${org}'s names`);
  }
  if (status < 200 || status >= 500) return problems;
  // Refused at the connection level, before any route: no body to shape.
  if (answer.body.length === 0 && headers['content-type'] === undefined) {
    if (![400, 408, 431].includes(status)) problems.push(`a bare ${status}`);
    return problems;
  }
  if (!STATUSES[sent.family].includes(status))
    problems.push(`status ${status} is not one of the ${sent.family} API's`);
  if (sent.method === 'HEAD') return problems;
  if (!/^application\/(fhir\+)?json(;|$)/.test(headers['content-type'] ?? ''))
    problems.push(`content-type ${headers['content-type']}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  if (!isObject(body)) return [...problems, 'the body is not a JSON object'];
  return [
    ...problems,
    ...(status === 200 || status === 201
      ? successShape(sent, body)
      : errorShape(sent, status, body, headers)),
  ];
}

function errorShape(sent: Sent, status: number, body: Json, headers: Record<string, string>): string[] {
  const problems: string[] = [];
  const keys = Object.keys(body).sort().join(',');
  if (sent.family === 'oauth') {
    if (keys !== 'error,error_description') problems.push(`RFC 6749 keys: ${keys}`);
    if (!OAUTH_ERRORS.includes(body.error as string)) problems.push(`RFC 6749 error ${String(body.error)}`);
    if (typeof body.error_description !== 'string' || !body.error_description)
      problems.push('error_description');
  } else if (sent.family === 'fhir') {
    if (!/^application\/fhir\+json/.test(headers['content-type'] ?? ''))
      problems.push('FHIR error content-type');
    if (body.resourceType !== 'OperationOutcome') problems.push('not an OperationOutcome');
    const issues = body.issue;
    if (!Array.isArray(issues) || issues.length === 0) problems.push('an OperationOutcome without issue[]');
    else
      for (const issue of issues as Json[])
        if (
          !['fatal', 'error', 'warning', 'information'].includes(issue.severity as string) ||
          typeof issue.code !== 'string' ||
          !isObject(issue.details) ||
          typeof issue.details.text !== 'string'
        )
          problems.push(`issue ${json(issue).slice(0, 200)}`);
  } else if (sent.family === 'platform') {
    const error = body.error;
    if (keys !== 'error' || !isObject(error)) return [`Platform API keys: ${keys}`];
    const entry = ERRORS[error.code as keyof typeof ERRORS];
    if (!entry) problems.push(`code ${String(error.code)}`);
    else if (entry.status !== status) problems.push(`code ${String(error.code)} with status ${status}`);
    if (
      Object.keys(error).sort().join(',') !== 'code,message' ||
      typeof error.message !== 'string' ||
      !error.message
    )
      problems.push('error {code, message}');
  } else {
    const meta = body.Meta;
    if (keys !== 'Meta' || !isObject(meta)) return [`Redox keys: ${keys}`];
    const { Errors: errors, ...echo } = meta;
    if (!Array.isArray(errors) || errors.length !== 1 || !isObject(errors[0]))
      return ['Meta.Errors is not one item'];
    const error = errors[0];
    if (Object.keys(error).sort().join(',') !== 'ID,Module,Text,Type') problems.push('Meta.Errors[0] keys');
    const entry = BY_ID.get(error.ID as number);
    if (!entry) problems.push(`ID ${String(error.ID)}`);
    else if (entry.status !== status || entry.module !== error.Module)
      problems.push(`ID ${String(error.ID)} with status ${status} and Module ${String(error.Module)}`);
    if (error.Type !== (sent.path.startsWith('/query') ? 'query' : 'message'))
      problems.push(`Type ${String(error.Type)}`);
    if (typeof error.Text !== 'string' || !error.Text) problems.push('Text');
    for (const [key, value] of Object.entries(echo))
      if (
        !['DataModel', 'EventType', 'EventDateTime', 'Test'].includes(key) ||
        !['string', 'boolean'].includes(typeof value)
      )
        problems.push(`echoes Meta.${key}`);
  }
  return problems;
}

function successShape(sent: Sent, body: Json): string[] {
  const path = sent.path.split('?')[0]!;
  if (path === '/v2/auth/token')
    return typeof body.access_token === 'string' &&
      body.token_type === 'Bearer' &&
      typeof body.expires_in === 'number'
      ? []
      : ['the token answer'];
  if (path.startsWith('/auth/'))
    return typeof body.accessToken === 'string' && typeof body.refreshToken === 'string'
      ? []
      : ['the legacy token answer'];
  if (path.startsWith('/.well-known/'))
    return typeof body.issuer === 'string' && typeof body.token_endpoint === 'string' ? [] : ['the metadata'];
  if (sent.family === 'dm') {
    const meta = body.Meta;
    if (!isObject(meta) || !Array.isArray(meta.Logs) || !Array.isArray(meta.Errors))
      return ['a 200 without Meta.Logs and Meta.Errors'];
    if (path.startsWith('/query'))
      return meta.Logs.length === 1 && meta.Errors.length === 0 ? [] : ['the query answer'];
    const ok =
      isObject(meta.Message) &&
      typeof meta.Message.ID === 'number' &&
      isObject(meta.Transmission) &&
      meta.Logs.length > 0 &&
      meta.Logs.every((l) => isObject(l) && typeof l.ID === 'string') &&
      meta.Errors.length === 0;
    return ok ? [] : ['the /endpoint answer'];
  }
  if (sent.family === 'platform' && 'error' in body) return ['a 200 with an error'];
  return [];
}

/** Counts what a 200 promised to have stored. */
export function account(sent: Sent, status: number, replayed: string | null | undefined, text: string): void {
  if (!sent.org) return;
  // A FHIR read, search, create or update (HEAD runs the GET route) leaves a log of its query;
  // the CapabilityStatement is Switchboard's own and leaves none.
  if (sent.family === 'fhir') {
    if ((status === 200 || status === 201) && !/\/metadata(\?|$)/.test(sent.path)) countQuery(sent.org);
    return;
  }
  if (status !== 200) return;
  if (sent.method === 'HEAD') return;
  let body: Json;
  try {
    body = JSON.parse(text) as Json;
  } catch {
    return;
  }
  const org = sent.org;
  if (sent.family === 'dm' && isObject(body.Meta)) {
    const meta = body.Meta;
    const logs = (meta.Logs as { ID: string }[]).map((l) => l.ID);
    for (const id of logs) knownLogs[org].add(id);
    if (!isObject(meta.Message)) return countQuery(org);
    for (const id of logs) messageOfLog.set(id, meta.Message.ID as number);
    if (replayed === 'true') return;
    expected[org].messages++;
    expected[org].logs += logs.length;
    expected[org].tracked.set(meta.Message.ID as number, new Set(logs));
  } else if (sent.path.split('?')[0]!.endsWith('/retry') && isObject(body.log)) {
    const log = body.log as { id: string; messageId: number };
    expected[org].logs++;
    knownLogs[org].add(log.id);
    messageOfLog.set(log.id, log.messageId);
    expected[org].tracked.get(log.messageId)?.add(log.id);
  } else if (sent.path.split('?')[0] === '/platform/v1/logs/retry' && Array.isArray(body.logs)) {
    // A bulk retry that was no dry run (the fuzz asks for dry runs; a mangled request may not).
    for (const copy of body.logs as { id: string; retryOf: string }[]) {
      expected[org].logs++;
      knownLogs[org].add(copy.id);
      const messageId = messageOfLog.get(copy.retryOf);
      if (messageId === undefined) continue;
      messageOfLog.set(copy.id, messageId);
      expected[org].tracked.get(messageId)?.add(copy.id);
    }
  }
}

function countQuery(org: Org): void {
  expected[org].messages++;
  expected[org].logs++;
}
