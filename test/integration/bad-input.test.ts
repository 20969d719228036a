import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import {
  OTHER_PLATFORM_KEY,
  PLATFORM_KEY,
  SECRET,
  patientAdmin,
  startHarness,
  type Answer,
  type Harness,
} from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Bad input: invalid JSON, wrong content type, missing Meta fields, unknown destination, no
 * token, a wrong token: the documented status and error shape, nothing stored, server still
 * serving (SPEC 2.1, 2.4; docs/errors.md).
 */

let h: Harness;
/** A second server with a 1 KB payload limit. */
let small: Harness;
let receiver: Receiver;
let smallReceiver: Receiver;
let token: string;

before(async () => {
  [receiver, smallReceiver] = await Promise.all([Receiver.start(), Receiver.start()]);
  [h, small] = await Promise.all([
    startHarness({ destinations: [{ id: 'app', url: receiver.url }] }),
    startHarness({
      destinations: [{ id: 'app', url: smallReceiver.url }],
      server: { payloadLimitBytes: 1024 },
    }),
  ]);
  token = await h.token();
});

after(async () => {
  await Promise.all([h.close(), small.close()]);
  await Promise.all([receiver.close(), smallReceiver.close()]);
});

/** Every answer any test got, for the leak check at the end. */
const answers: { what: string; text: string }[] = [];

interface Reply extends Answer {
  text: string;
}

/** One HTTP request with exactly the given headers (fetch adds no content type to a Buffer body). */
async function call(
  base: string,
  method: string,
  path: string,
  init: { body?: string | Buffer | URLSearchParams; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const body = typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
  const res = await fetch(base + path, { method, body, headers: init.headers });
  const text = await res.text();
  answers.push({ what: `${method} ${path}`, text });
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON; the text is the body, and the shape checks below will say so.
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

const JSON_TYPE = { 'content-type': 'application/json' };

/** POST /endpoint with a valid token unless `auth` says otherwise. */
function post(
  body: string | Buffer | undefined,
  headers: Record<string, string> = JSON_TYPE,
  auth: string | null = `Bearer ${token}`,
  target: Harness = h,
): Promise<Reply> {
  return call(target.url, 'POST', '/endpoint', {
    body,
    headers: { ...headers, ...(auth === null ? {} : { authorization: auth }) },
  });
}

const json = (value: unknown): string => JSON.stringify(value);

const STACK_OR_PATH = /\n\s*at |\bat [\w$.<>]+ \(|\(\S+:\d+:\d+\)|node_modules|\/work\b|file:\/\/|\.ts\b:\d+/;

function assertNoLeak(text: string, what: string): void {
  assert.doesNotMatch(text, STACK_OR_PATH, `${what}: no stack trace or internal path`);
  assert.doesNotMatch(text, /Other Health|Other app|Other EHR/, `${what}: nothing of the other organization`);
}

interface Expected {
  status: number;
  id: number;
  module: 'DataModels' | 'Auth' | 'Routing';
  text: string | RegExp;
  /** Meta fields the answer must echo; any other echoed field must be one of DataModel, EventType, EventDateTime, Test. */
  echo?: Record<string, unknown>;
}

/** The Data Model API error shape of SPEC 2.4: `{"Meta": {..echo, "Errors": [{ID, Text, Type, Module}]}}`. */
function assertMetaError(res: Reply, expected: Expected): void {
  assert.equal(res.status, expected.status, `status; body: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assertNoLeak(res.text, `answer ${res.text}`);
  assert.ok(res.body && typeof res.body === 'object', `a JSON object: ${res.text}`);
  assert.deepEqual(Object.keys(res.body), ['Meta']);
  const { Errors: errors, ...echo } = res.body.Meta as Record<string, unknown>;
  assert.ok(Array.isArray(errors) && errors.length === 1, `one Meta.Errors item: ${res.text}`);
  const error = errors[0] as Record<string, unknown>;
  assert.deepEqual(Object.keys(error).sort(), ['ID', 'Module', 'Text', 'Type']);
  assert.equal(typeof error.ID, 'number');
  assert.equal(error.ID, expected.id);
  assert.equal(error.Type, 'message');
  assert.equal(error.Module, expected.module);
  assert.equal(typeof error.Text, 'string');
  assert.ok((error.Text as string).length > 0, 'a non-empty Text');
  if (typeof expected.text === 'string') assert.equal(error.Text, expected.text);
  else assert.match(error.Text as string, expected.text);
  for (const key of Object.keys(echo))
    assert.ok(['DataModel', 'EventType', 'EventDateTime', 'Test'].includes(key), `echoed ${key}`);
  for (const [key, value] of Object.entries(expected.echo ?? {}))
    assert.deepEqual(echo[key], value, `echo ${key}`);
}

const INVALID_JSON = { status: 400, id: 531801, module: 'DataModels' } as const;
const CONTENT_TYPE = {
  status: 400,
  id: 531802,
  module: 'DataModels',
  text: 'Content-Type must be application/json',
} as const;
const INVALID_FIELD = { status: 400, id: 531803, module: 'DataModels' } as const;
const UNKNOWN_MODEL = { status: 404, id: 531804, module: 'DataModels' } as const;
const UNAUTHORIZED = { status: 401, id: 531810, module: 'Auth' } as const;
const UNKNOWN_DESTINATION = { status: 404, id: 531820, module: 'Routing' } as const;
const NOT_FOUND = { status: 404, id: 531821, module: 'Routing' } as const;

const valid = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient', ...extra },
  Patient: { Identifiers: [{ ID: 'MRN-BAD', IDType: 'MR' }] },
});

interface Case extends Expected {
  name: string;
  send: () => Promise<Reply>;
}

const cases: Case[] = [
  // Not JSON at all.
  {
    name: 'invalid JSON',
    ...INVALID_JSON,
    text: 'Request body is not valid JSON',
    send: () => post('{nope'),
  },
  {
    name: 'truncated JSON',
    ...INVALID_JSON,
    text: 'Request body is not valid JSON',
    send: () => post('{"Meta": {"DataModel": "PatientAdmin", "EventType": "New'),
  },
  {
    name: 'JSON followed by garbage',
    ...INVALID_JSON,
    text: 'Request body is not valid JSON',
    send: () => post(`${json(valid())} trailing`),
  },
  { name: 'empty body', ...INVALID_JSON, text: /empty/, send: () => post('') },
  { name: 'no body at all', ...INVALID_JSON, text: /empty/, send: () => post(undefined) },
  // JSON, but not an object.
  ...(['[]', json([valid()]), '"PatientAdmin"', '42', 'true', 'null'] as const).map((body): Case => ({
    name: `JSON ${body.slice(0, 20)} instead of an object`,
    ...INVALID_FIELD,
    text: 'Request body must be a JSON object',
    send: () => post(body),
  })),
  // Wrong content type, with a body that would otherwise be accepted.
  {
    name: 'a gzip-compressed body',
    ...CONTENT_TYPE,
    text: 'Content-Encoding gzip is not supported; send the body uncompressed',
    send: () => post(gzipSync(json(valid())), { ...JSON_TYPE, 'content-encoding': 'gzip' }),
  },
  {
    name: 'text/plain',
    ...CONTENT_TYPE,
    send: () => post(json(valid()), { 'content-type': 'text/plain' }),
  },
  {
    name: 'form-encoded',
    ...CONTENT_TYPE,
    send: () =>
      post('Meta=PatientAdmin', {
        'content-type': 'application/x-www-form-urlencoded',
      }),
  },
  { name: 'no content type', ...CONTENT_TYPE, send: () => post(json(valid()), {}) },
  {
    name: 'application/xml',
    ...CONTENT_TYPE,
    send: () =>
      post('<Meta><DataModel>PatientAdmin</DataModel></Meta>', { 'content-type': 'application/xml' }),
  },
  {
    name: 'a look-alike JSON media type',
    ...CONTENT_TYPE,
    send: () => post(json(valid()), { 'content-type': 'application/jsonx' }),
  },
  // Meta missing or malformed.
  {
    name: 'missing Meta',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta',
    send: () => post(json({ Patient: {} })),
  },
  {
    name: 'Meta a string',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta must be an object',
    send: () => post(json({ Meta: 'PatientAdmin' })),
  },
  {
    name: 'Meta an array',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta must be an object',
    send: () => post(json({ Meta: [valid().Meta] })),
  },
  {
    name: 'missing Meta.DataModel',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.DataModel',
    echo: { EventType: 'NewPatient' },
    send: () => post(json({ Meta: { EventType: 'NewPatient' } })),
  },
  {
    name: 'missing Meta.EventType',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.EventType',
    echo: { DataModel: 'PatientAdmin', Test: true },
    send: () => post(json({ Meta: { DataModel: 'PatientAdmin', Test: true } })),
  },
  {
    name: 'empty Meta.DataModel',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.DataModel',
    send: () => post(json(valid({ DataModel: '' }))),
  },
  {
    name: 'null Meta.EventType',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.EventType',
    send: () => post(json(valid({ EventType: null }))),
  },
  {
    name: 'Meta.DataModel a number',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta.DataModel must be a string',
    echo: { EventType: 'NewPatient' },
    send: () => post(json(valid({ DataModel: 42 }))),
  },
  {
    name: 'Meta.EventType an object',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta.EventType must be a string',
    send: () => post(json(valid({ EventType: { Name: 'NewPatient' } }))),
  },
  {
    name: 'Meta.Test "yes"',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta.Test must be true or false',
    echo: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    send: () => post(json(valid({ Test: 'yes' }))),
  },
  {
    name: 'Meta.EventDateTime a number',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta.EventDateTime must be a string',
    send: () => post(json(valid({ EventDateTime: 1_700_000_000 }))),
  },
  {
    name: 'Meta.Destinations not an array',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta.Destinations must be an array',
    send: () => post(json(valid({ Destinations: { ID: 'app' } }))),
  },
  {
    name: 'Meta.Destinations item without ID',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.Destinations[0].ID',
    send: () => post(json(valid({ Destinations: [{ Name: 'app' }] }))),
  },
  {
    name: 'second Meta.Destinations item without ID',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.Destinations[1].ID',
    send: () => post(json(valid({ Destinations: [{ ID: 'app' }, {}] }))),
  },
  {
    name: 'Meta.Destinations item a string',
    ...INVALID_FIELD,
    text: 'Required field missing - Meta.Destinations[0].ID',
    send: () => post(json(valid({ Destinations: ['app'] }))),
  },
  {
    name: 'Meta.Destinations ID a number',
    ...INVALID_FIELD,
    text: 'Invalid field type - Meta.Destinations[0].ID must be a string',
    send: () => post(json(valid({ Destinations: [{ ID: 7 }] }))),
  },
  // Prototype pollution: refused outright, and nothing polluted.
  {
    name: '__proto__ key',
    ...INVALID_JSON,
    text: /./,
    send: () => post(`{"__proto__": {"polluted": true}, ${json(valid()).slice(1)}`),
  },
  {
    name: 'escaped __proto__ key',
    ...INVALID_JSON,
    text: /./,
    send: () => post(`{"\\u005f_proto__": {"polluted": true}, ${json(valid()).slice(1)}`),
  },
  {
    name: '__proto__ inside Meta',
    ...INVALID_JSON,
    text: /./,
    send: () => post('{"Meta": {"__proto__": {"DataModel": "PatientAdmin", "EventType": "NewPatient"}}}'),
  },
  {
    name: 'constructor.prototype',
    ...INVALID_JSON,
    text: /./,
    send: () => post(json({ constructor: { prototype: { polluted: true } }, ...valid() })),
  },
  {
    name: 'constructor.prototype deep in the payload',
    ...INVALID_JSON,
    text: /./,
    send: () => post(json(valid({ Extra: { a: [{ constructor: { prototype: { polluted: true } } }] } }))),
  },
  // Unknown things.
  {
    name: 'unknown data model',
    ...UNKNOWN_MODEL,
    text: 'Unknown data model - NotAModel',
    echo: { DataModel: 'NotAModel', EventType: 'NewPatient' },
    send: () => post(json({ Meta: { DataModel: 'NotAModel', EventType: 'NewPatient' } })),
  },
  {
    name: 'unknown destination',
    ...UNKNOWN_DESTINATION,
    text: 'Destination not found - nope',
    echo: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    send: () => post(json(valid({ Destinations: [{ ID: 'nope' }] }))),
  },
  {
    // Answered exactly like an ID that exists nowhere: the answer does not tell it exists.
    name: "the other organization's destination",
    ...UNKNOWN_DESTINATION,
    text: 'Destination not found - private',
    send: () => post(json(valid({ Destinations: [{ ID: 'private' }] }))),
  },
  {
    // One bad destination refuses the whole message: no log for the good one either.
    name: 'a known and an invisible destination together',
    ...UNKNOWN_DESTINATION,
    text: 'Destination not found - private',
    send: () => post(json(valid({ Destinations: [{ ID: 'app' }, { ID: 'private' }] }))),
  },
  {
    name: "the other organization's source naming acme's destination",
    ...UNKNOWN_DESTINATION,
    text: 'Destination not found - app',
    send: async () =>
      post(
        json(valid({ Destinations: [{ ID: 'app' }] })),
        JSON_TYPE,
        `Bearer ${await h.token('other-client')}`,
      ),
  },
  // Authentication.
  {
    name: 'no Authorization header',
    ...UNAUTHORIZED,
    text: 'Missing bearer access token',
    send: () => post(json(valid()), JSON_TYPE, null),
  },
  {
    name: 'Bearer without a token',
    ...UNAUTHORIZED,
    text: /token/,
    send: () => post(json(valid()), JSON_TYPE, 'Bearer '),
  },
  {
    name: 'Basic instead of Bearer',
    ...UNAUTHORIZED,
    text: /token/,
    send: () =>
      post(json(valid()), JSON_TYPE, `Basic ${Buffer.from(`ehr-client:${SECRET}`).toString('base64')}`),
  },
  {
    name: 'a bearer token that is not a JWT',
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: () => post(json(valid()), JSON_TYPE, 'Bearer not-a-token'),
  },
  {
    name: 'the client secret as a bearer token',
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: () => post(json(valid()), JSON_TYPE, `Bearer ${SECRET}`),
  },
  {
    name: 'a platform key as a bearer token',
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: () => post(json(valid()), JSON_TYPE, `Bearer ${PLATFORM_KEY}`),
  },
  {
    name: 'a token signed with another key',
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: async () => {
      const forged = await new SignJWT({ org: 'acme', env: 'production' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer('switchboard')
        .setAudience('switchboard-api')
        .setSubject('ehr')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(randomBytes(32));
      return post(json(valid()), JSON_TYPE, `Bearer ${forged}`);
    },
  },
  {
    name: 'a tampered token (claims changed, signature kept)',
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: () => post(json(valid()), JSON_TYPE, `Bearer ${tamper(token, { exp: 4_102_444_800 })}`),
  },
  {
    name: "a token moved to the other organization's source",
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: () => post(json(valid()), JSON_TYPE, `Bearer ${tamper(token, { org: 'other' })}`),
  },
  {
    name: 'an unsigned token (alg none)',
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
    send: () => {
      const [, payload] = token.split('.');
      const header = Buffer.from(json({ alg: 'none', typ: 'JWT' })).toString('base64url');
      return post(json(valid()), JSON_TYPE, `Bearer ${header}.${payload}.`);
    },
  },
  // Routes.
  {
    name: 'wrong verb: GET /endpoint',
    ...NOT_FOUND,
    text: 'No route GET /endpoint',
    send: () => call(h.url, 'GET', '/endpoint', { headers: { authorization: `Bearer ${token}` } }),
  },
  {
    name: 'wrong verb: PUT /endpoint',
    ...NOT_FOUND,
    text: 'No route PUT /endpoint',
    send: () =>
      call(h.url, 'PUT', '/endpoint', {
        body: json(valid()),
        headers: { ...JSON_TYPE, authorization: `Bearer ${token}` },
      }),
  },
  {
    name: 'wrong verb: DELETE /endpoint',
    ...NOT_FOUND,
    text: 'No route DELETE /endpoint',
    send: () => call(h.url, 'DELETE', '/endpoint', { headers: { authorization: `Bearer ${token}` } }),
  },
  {
    name: 'unknown path (the query string is not echoed)',
    ...NOT_FOUND,
    text: 'No route POST /v1/endpoint',
    send: () =>
      call(h.url, 'POST', '/v1/endpoint?secret=hunter2', {
        body: json(valid()),
        headers: { ...JSON_TYPE, authorization: `Bearer ${token}` },
      }),
  },
  {
    name: 'unknown path without a token',
    ...NOT_FOUND,
    text: 'No route GET /nothing/here',
    send: () => call(h.url, 'GET', '/nothing/here'),
  },
];

/** `token` with some claims replaced and the original signature kept. */
function tamper(jwt: string, claims: Record<string, unknown>): string {
  const [header, payload, signature] = jwt.split('.') as [string, string, string];
  const changed = { ...JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')), ...claims };
  return `${header}.${Buffer.from(json(changed)).toString('base64url')}.${signature}`;
}

for (const c of cases)
  test(`${c.status}: ${c.name}`, async () => {
    assertMetaError(await c.send(), c);
  });

test('nothing was polluted by the __proto__ and constructor.prototype bodies', () => {
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
});

test('413: a body over the payload limit, with a Content-Length', async () => {
  const big = json({ ...valid(), Padding: 'x'.repeat(10 * 1024) });
  assertMetaError(await post(big, JSON_TYPE, `Bearer ${await small.token()}`, small), {
    status: 413,
    id: 531805,
    module: 'DataModels',
    text: 'Request body is larger than the payload limit',
  });
});

test('413: a chunked body over the limit is refused while it is still streaming', async () => {
  let chunks = 0;
  let finish: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (finish = resolve));
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // 4 KB, then the stream stays open until the test ends: only a refusal can answer in time.
      if (chunks++ < 4) controller.enqueue(new TextEncoder().encode(`{"a":"${'x'.repeat(1_000)}`));
      else {
        await held;
        controller.close();
      }
    },
  });
  try {
    const res = await fetch(`${small.url}/endpoint`, {
      method: 'POST',
      body,
      duplex: 'half',
      headers: { ...JSON_TYPE, authorization: `Bearer ${await small.token()}` },
      signal: AbortSignal.timeout(5_000),
    } as RequestInit);
    const text = await res.text();
    answers.push({ what: 'chunked 413', text });
    assertMetaError(
      { status: res.status, headers: res.headers, body: JSON.parse(text), text },
      { status: 413, id: 531805, module: 'DataModels', text: /payload limit/ },
    );
  } finally {
    finish();
  }
});

test('413: a declared 10 MB body is refused without waiting for it', async () => {
  const smallToken = await small.token();
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(
      `${small.url}/endpoint`,
      {
        method: 'POST',
        headers: {
          ...JSON_TYPE,
          'content-length': String(10 * 1024 * 1024),
          authorization: `Bearer ${smallToken}`,
        },
        timeout: 5_000,
      },
      (res) => {
        let out = '';
        res.on('data', (c: Buffer) => (out += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: out }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer before the body was sent')));
    req.on('error', reject);
    req.write('{"Meta": {');
  });
  answers.push({ what: 'declared 413', text });
  assert.equal(status, 413);
  assert.equal(JSON.parse(text).Meta.Errors[0].ID, 531805);
});

// ---- Token endpoint (RFC 6749 errors) ----

async function tokenRequest(
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return call(h.url, 'POST', '/v2/auth/token', {
    body: new URLSearchParams(form),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

function assertOAuthError(res: Reply, status: number, error: string): void {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
  assert.equal(res.body.error, error);
  assert.equal(typeof res.body.error_description, 'string');
  assert.ok(res.body.error_description.length > 0);
  assert.match(res.headers.get('cache-control') ?? '', /no-store/);
  assertNoLeak(res.text, 'token answer');
}

const basic = (id: string, secret: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
});

test('token: wrong secret -> 401 invalid_client', async () => {
  const res = await tokenRequest({
    grant_type: 'client_credentials',
    client_id: 'ehr-client',
    client_secret: 'wrong-secret-0123456789',
  });
  assertOAuthError(res, 401, 'invalid_client');
  // RFC 6749 5.2: a challenge only to a client that authenticated with HTTP Basic.
  assert.equal(res.headers.get('www-authenticate'), null);
  const byBasic = await tokenRequest(
    { grant_type: 'client_credentials' },
    basic('ehr-client', 'wrong-secret-0123456789'),
  );
  assertOAuthError(byBasic, 401, 'invalid_client');
  assert.match(byBasic.headers.get('www-authenticate') ?? '', /^Basic realm=/);
});

test('token: an unknown client gets the same answer as a wrong secret', async () => {
  const wrong = await tokenRequest({
    grant_type: 'client_credentials',
    client_id: 'ehr-client',
    client_secret: 'x',
  });
  const unknown = await tokenRequest({
    grant_type: 'client_credentials',
    client_id: 'nobody',
    client_secret: 'x',
  });
  assertOAuthError(unknown, 401, 'invalid_client');
  assert.deepEqual(unknown.body, wrong.body);
});

test('token: no client secret -> 401 invalid_client', async () => {
  assertOAuthError(
    await tokenRequest({ grant_type: 'client_credentials', client_id: 'ehr-client' }),
    401,
    'invalid_client',
  );
});

test('token: missing grant_type -> 400 invalid_request', async () => {
  assertOAuthError(
    await tokenRequest({ client_id: 'ehr-client', client_secret: SECRET }),
    400,
    'invalid_request',
  );
});

test('token: unsupported grant_type -> 400 unsupported_grant_type', async () => {
  assertOAuthError(
    await tokenRequest({ grant_type: 'password', client_id: 'ehr-client', client_secret: SECRET }),
    400,
    'unsupported_grant_type',
  );
});

test('token: two client authentication methods at once -> 400 invalid_request', async () => {
  assertOAuthError(
    await tokenRequest(
      { grant_type: 'client_credentials', client_secret: SECRET },
      basic('ehr-client', SECRET),
    ),
    400,
    'invalid_request',
  );
});

test('token: HTTP Basic with a wrong secret -> 401 invalid_client', async () => {
  assertOAuthError(
    await tokenRequest({ grant_type: 'client_credentials' }, basic('ehr-client', 'wrong')),
    401,
    'invalid_client',
  );
});

test('token: a body that is not form-encoded -> 400 invalid_request', async () => {
  const res = await call(h.url, 'POST', '/v2/auth/token', {
    body: 'grant_type=client_credentials',
    headers: { 'content-type': 'text/plain' },
  });
  assertOAuthError(res, 400, 'invalid_request');
});

test('token: the wrong-content-type answer names the form encoding the endpoint expects', async () => {
  const res = await call(h.url, 'POST', '/v2/auth/token', {
    body: 'grant_type=client_credentials',
    headers: { 'content-type': 'text/plain' },
  });
  assert.match(res.body.error_description, /x-www-form-urlencoded/);
});

test('token: HTTP Basic works, and its token is accepted', async () => {
  const res = await tokenRequest({ grant_type: 'client_credentials' }, basic('ehr-client', SECRET));
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.token_type, 'Bearer');
  assert.equal(res.body.expires_in, 3600);
  assert.equal(typeof res.body.access_token, 'string');
  // Accepted by /endpoint: a message that fails only on its own content gets past authentication.
  assertMetaError(await post('{}', JSON_TYPE, `Bearer ${res.body.access_token}`), {
    ...INVALID_FIELD,
    text: 'Required field missing - Meta',
  });
});

// ---- Platform API authentication and isolation ----

function assertPlatformError(res: Reply, status: number, code: string): void {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.body), ['error']);
  assert.equal(res.body.error.code, code);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
  assertNoLeak(res.text, 'platform answer');
}

test('platform: no key, a wrong key, a source token -> 401', async () => {
  assertPlatformError(await call(h.url, 'GET', '/platform/v1/logs'), 401, 'UNAUTHORIZED');
  for (const authorization of [
    'Bearer pk_wrong_0123456789abcdef',
    `Basic ${Buffer.from(`acme:${PLATFORM_KEY}`).toString('base64')}`,
    PLATFORM_KEY,
    `Bearer ${token}`,
  ])
    assertPlatformError(
      await call(h.url, 'GET', '/platform/v1/logs', { headers: { authorization } }),
      401,
      'UNAUTHORIZED',
    );
});

test('platform: a bad search parameter -> 400 naming it', async () => {
  const res = await call(h.url, 'GET', '/platform/v1/logs?status=bogus', {
    headers: { authorization: `Bearer ${PLATFORM_KEY}` },
  });
  assertPlatformError(res, 400, 'INVALID_FIELD');
  assert.match(res.body.error.message, /status/);
});

/** Rows in the store, read beside the running server: no API lists a message without logs. */
async function storedRows(harness: Harness): Promise<{ messages: number; logs: number }> {
  const [row] = await harness.storage.rows<{ messages: number; logs: number }>(
    'SELECT (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM logs) AS logs',
  );
  return { messages: Number(row!.messages), logs: Number(row!.logs) };
}

test('401: an expired token (the clock moved past its hour)', async () => {
  h.clock.advance(3_700_000);
  assertMetaError(await post(json(valid()), JSON_TYPE, `Bearer ${token}`), {
    ...UNAUTHORIZED,
    text: 'Invalid or expired access token',
  });
});

test('after all of it: nothing was stored', async () => {
  for (const [harness, key] of [
    [h, PLATFORM_KEY],
    [h, OTHER_PLATFORM_KEY],
    [small, PLATFORM_KEY],
  ] as const) {
    const logs = await harness.platform('GET', '/platform/v1/logs', undefined, key);
    assert.equal(logs.status, 200);
    assert.deepEqual(logs.body.logs, []);
  }
  assert.deepEqual(await storedRows(h), { messages: 0, logs: 0 });
  assert.deepEqual(await storedRows(small), { messages: 0, logs: 0 });
  await Promise.all([h.settled(), small.settled()]);
  assert.equal(receiver.received.length, 0, 'nothing was delivered');
  assert.equal(smallReceiver.received.length, 0, 'nothing was delivered');
});

test('every answer was JSON, without a stack trace or an internal path', () => {
  assert.ok(answers.length > cases.length);
  for (const { what, text } of answers) {
    assertNoLeak(text, what);
    assert.doesNotThrow(() => JSON.parse(text), `${what} answered JSON`);
  }
});

let acmeLogId = '';

test('the server still serves: a good message gets 200 and is delivered as the first of its queue', async () => {
  // The old token expired with the clock; a new one is issued at the new time.
  const fresh = await call(h.url, 'POST', '/v2/auth/token', {
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'ehr-client',
      client_secret: SECRET,
    }),
  });
  assert.equal(fresh.status, 200);
  const res = await h.send(patientAdmin(1), { token: fresh.body.access_token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.Meta.Errors, []);
  assert.equal(res.body.Meta.Logs.length, 1);
  acmeLogId = res.body.Meta.Logs[0].ID;
  await waitFor(() => receiver.received.length === 1, 5_000, 'the delivery');
  // No refused request used up a place in the queue.
  assert.equal(receiver.received[0]!.headers['x-switchboard-sequence'], '1');
  assert.equal(receiver.received[0]!.headers['x-switchboard-log-id'], acmeLogId);
  assert.deepEqual(await storedRows(h), { messages: 1, logs: 1 });

  // The small server accepts a message under its limit.
  const under = await small.send(patientAdmin(2));
  assert.equal(under.status, 200, JSON.stringify(under.body));
  await waitFor(() => smallReceiver.received.length === 1, 5_000, 'the delivery');
  assert.equal(smallReceiver.received[0]!.headers['x-switchboard-sequence'], '1');
});

test("platform: the other organization's key sees none of acme's logs", async () => {
  assert.ok(acmeLogId);
  const own = await h.platform('GET', `/platform/v1/logs/${acmeLogId}`);
  assert.equal(own.status, 200);

  const list = await h.platform('GET', '/platform/v1/logs', undefined, OTHER_PLATFORM_KEY);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.logs, []);
  const search = await h.platform('GET', '/platform/v1/logs?q=MRN-1', undefined, OTHER_PLATFORM_KEY);
  assert.deepEqual(search.body.logs, []);

  const auth = { headers: { authorization: `Bearer ${OTHER_PLATFORM_KEY}` } };
  const detail = await call(h.url, 'GET', `/platform/v1/logs/${acmeLogId}`, auth);
  assertPlatformError(detail, 404, 'NOT_FOUND');
  // The same answer as for a log that does not exist anywhere.
  const nowhere = await call(h.url, 'GET', '/platform/v1/logs/00000000-0000-4000-8000-000000000000', auth);
  assert.deepEqual(detail.body, nowhere.body);
  assertPlatformError(
    await call(h.url, 'POST', `/platform/v1/logs/${acmeLogId}/retry`, auth),
    404,
    'NOT_FOUND',
  );
  assertPlatformError(
    await call(h.url, 'GET', '/platform/v1/destinations/app/queue', auth),
    404,
    'NOT_FOUND',
  );
  for (const { text } of [detail, nowhere]) assert.doesNotMatch(text, /MRN-1|Acme/);
  // And acme's retry was not triggered by the other organization.
  await h.settled();
  assert.equal(receiver.received.length, 1);
});
