// Well-formed inputs (sent with fetch): random ones, and the sweep that covers each case once.
import { SECRET } from '../harness.ts';
import { credentials, type Input, MB, type Rng, rngFor } from './context.ts';
import { inject, nest, validMessage } from './payloads.ts';
import { ROUTES } from './routes.ts';
import {
  INVALID_UTF8,
  json,
  JSON_TYPES,
  META_FIELDS,
  ODD_HEADERS,
  ODD_IDS,
  ODD_METHODS,
  POLLUTERS,
  WRONG_TYPES,
} from './values.ts';

/**
 * A well-formed request (sent with fetch). Most change one thing of a valid request: its
 * payload (body, IDs, parameters), credential, method, content type or headers; some change
 * everything at once.
 */
export function buildFetch(index: number, rng: Rng): Input {
  const route = ROUTES[index % ROUTES.length]!;
  // prettier-ignore
  const axis = rng.pick(['payload', 'payload', 'payload', 'payload', 'payload', 'valid', 'credential', 'credential', 'method', 'type', 'headers', 'all', 'all']);
  const all = axis === 'all';
  const credential =
    axis === 'credential' || (all && rng.chance(0.5)) ? rng.pick([...credentials.keys()]) : route.usual;
  const { header, org } = credentials.get(credential)!;
  const built = route.build(rng, org, axis === 'payload' || all);
  const method = axis === 'method' || (all && rng.chance(0.2)) ? rng.pick(ODD_METHODS) : route.method;
  const headers: Record<string, string> = { ...built.headers };
  if (header !== undefined && !headers.authorization) headers.authorization = header;
  const body = method === 'GET' || method === 'HEAD' ? undefined : built.body;
  const type =
    axis === 'type' || (all && rng.chance(0.3))
      ? rng.pick(WRONG_TYPES)
      : built.type === 'application/json'
        ? rng.pick(JSON_TYPES)
        : built.type;
  if (body !== undefined && type) headers['content-type'] = type;
  if (axis === 'headers' || (all && rng.chance(0.3))) Object.assign(headers, rng.pick(ODD_HEADERS));
  const strategy = `${axis}: ${built.strategy} (${credential}${method === route.method ? '' : `, ${method}`}${type === built.type ? '' : `, ${type}`})`;
  return { index, kind: 'fetch', route: route.name, strategy, method, path: built.path, headers, body, org };
}

/** A request of `route` as given, with a named credential. */
function request(
  index: number,
  route: string,
  strategy: string,
  init: { method: string; path: string; credential: string; body?: string | Buffer; type?: string },
): Input {
  const { header, org } = credentials.get(init.credential)!;
  const headers: Record<string, string> = {};
  if (header !== undefined) headers.authorization = header;
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  if (body !== undefined && init.type) headers['content-type'] = init.type;
  return {
    index,
    kind: 'fetch',
    route,
    strategy: `sweep: ${strategy}`,
    method: init.method,
    path: init.path,
    headers,
    body,
    org,
  };
}

const TYPE_CLASSES: unknown[] = [null, 42, true, '', [], {}, 'x'.repeat(10_000)];

/**
 * Inputs that cover each case once, before the random ones: a wrong type of each kind in each
 * Meta field; each pollution key in each place; 10,000 levels of nesting in each place; each
 * invalid UTF-8 sequence; each wrong content type on each route with a body; odd methods on
 * each route; each odd ID in each path that has one; multi-MB bodies.
 */
export function sweep(): ((index: number) => Input)[] {
  const all: ((index: number) => Input)[] = [];
  const DM = [
    ['POST /endpoint', '/endpoint'],
    ['POST /query', '/query'],
  ] as const;
  const post = (
    route: string,
    path: string,
    strategy: string,
    body: string | Buffer,
    type = 'application/json',
    credential = 'source',
  ) => all.push((index) => request(index, route, strategy, { method: 'POST', path, credential, body, type }));
  const message = (
    index: number,
    query: boolean,
  ): Record<string, unknown> & { Meta: Record<string, unknown> } =>
    validMessage(rngFor(index), 'acme', query) as Record<string, unknown> & { Meta: Record<string, unknown> };
  for (const [route, path] of DM) {
    for (const field of META_FIELDS)
      for (const value of TYPE_CLASSES)
        all.push((index) => {
          const m = message(index, path === '/query');
          if (field === 'Meta') m.Meta = value as Record<string, unknown>;
          else if (field === 'Destinations[0]') m.Meta.Destinations = [value, { ID: 'app' }];
          else if (field === 'Destinations[0].ID') m.Meta.Destinations = [{ ID: value }];
          else m.Meta[field] = value;
          const strategy = `Meta ${field} = ${json(value).slice(0, 12)}`;
          return request(index, route, strategy, {
            method: 'POST',
            path,
            credential: 'source',
            body: json(m),
            type: 'application/json',
          });
        });
    for (const where of ['top', 'meta', 'destination', 'deep'])
      for (const fragment of POLLUTERS)
        all.push((index) => {
          const body = inject(message(index, path === '/query'), where, fragment);
          return request(index, route, `${fragment} in ${where}`, {
            method: 'POST',
            path,
            credential: 'source',
            body,
            type: 'application/json',
          });
        });
    const model = path === '/query' ? 'PatientSearch' : 'PatientAdmin';
    const text = json({ Meta: { DataModel: model, EventType: 'NewPatient' } });
    for (const kind of ['array', 'object'] as const) {
      const deep = nest(10_000, kind);
      post(route, path, `10,000 levels of ${kind} as the body`, deep);
      post(
        route,
        path,
        `10,000 levels of ${kind} in Meta`,
        text.replace('"Meta":{', `"Meta":{"Deep":${deep},`),
      );
      post(route, path, `10,000 levels of ${kind} in the payload`, `${text.slice(0, -1)},"Deep":${deep}}`);
    }
    for (const bad of INVALID_UTF8) {
      const start = `{"Meta":{"DataModel":"${model}","EventType":"NewPatient"},"Name":"`;
      post(
        route,
        path,
        `bytes ${bad} in a value`,
        Buffer.concat([Buffer.from(start), Buffer.from(bad), Buffer.from('"}')]),
      );
      post(
        route,
        path,
        `bytes ${bad} in a key`,
        Buffer.concat([Buffer.from('{"Meta":{"'), Buffer.from(bad), Buffer.from('":1}}')]),
      );
    }
    post(route, path, 'a 4 MB string', `${text.slice(0, -1)},"Big":"${'x'.repeat(4 * MB)}"}`);
  }
  for (const fragment of POLLUTERS) {
    post(
      'POST /auth/authenticate',
      '/auth/authenticate',
      fragment,
      `{${fragment},"apiKey":"ehr-client","secret":"${SECRET}"}`,
      'application/json',
      'none',
    );
    post(
      'POST /auth/refreshToken',
      '/auth/refreshToken',
      fragment,
      `{${fragment},"apiKey":"ehr-client","refreshToken":"x"}`,
      'application/json',
      'none',
    );
    post(
      'POST /platform/v1/destinations/{id}/queue/pause',
      '/platform/v1/destinations/nope/queue/pause',
      fragment,
      `{${fragment},"by":"x"}`,
      'application/json',
      'platform',
    );
  }
  const FORM = 'application/x-www-form-urlencoded';
  const formProto = '__proto__[polluted]=1&constructor[prototype][polluted]=1&grant_type=client_credentials';
  const SEARCH = [
    'POST /fhir/R4/{org}/{env}/{Type}/_search',
    '/fhir/R4/acme/production/Patient/_search',
  ] as const;
  post('POST /v2/auth/token', '/v2/auth/token', 'polluting form keys', formProto, FORM, 'none');
  post(...SEARCH, 'polluting form keys', formProto, FORM);
  post(...SEARCH, 'a 2 MB form', `name=${'x'.repeat(2 * MB)}`, FORM);
  post(
    'POST /auth/authenticate',
    '/auth/authenticate',
    'a 4 MB secret',
    json({ apiKey: 'ehr-client', secret: 'x'.repeat(4 * MB) }),
    'application/json',
    'none',
  );
  // Each route with a body, with each wrong (or no) content type.
  const bodies: [string, string, string, string][] = [
    [
      'POST /endpoint',
      '/endpoint',
      'source',
      json({
        Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
        Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
      }),
    ],
    ['POST /query', '/query', 'source', json({ Meta: { DataModel: 'PatientSearch', EventType: 'Query' } })],
    [
      'POST /v2/auth/token',
      '/v2/auth/token',
      'none',
      `grant_type=client_credentials&client_id=ehr-client&client_secret=${SECRET}`,
    ],
    ['POST /auth/authenticate', '/auth/authenticate', 'none', json({ apiKey: 'ehr-client', secret: SECRET })],
    [
      'POST /auth/refreshToken',
      '/auth/refreshToken',
      'none',
      json({ apiKey: 'ehr-client', refreshToken: 'x' }),
    ],
    [...SEARCH, 'source', 'name=x'],
    [
      'POST /platform/v1/destinations/{id}/queue/pause',
      '/platform/v1/destinations/nope/queue/pause',
      'platform',
      json({ by: 'x' }),
    ],
    ['POST /platform/v1/logs/{id}/retry', '/platform/v1/logs/nope/retry', 'platform', json({})],
  ];
  for (const [route, path, credential, body] of bodies)
    for (const type of WRONG_TYPES)
      post(route, path, `Content-Type: ${type.slice(0, 40) || '(none)'}`, body, type, credential);
  // Each route with five odd methods.
  for (const [n, route] of ROUTES.entries())
    for (let i = 0; i < 5; i++)
      all.push((index) => {
        const method = ODD_METHODS[(n + i * 3) % ODD_METHODS.length]!;
        const built = route.build(rngFor(index), 'acme', false);
        const body = method === 'GET' || method === 'HEAD' ? undefined : built.body;
        return request(index, route.name, `method ${method}`, {
          method,
          path: built.path,
          credential: route.usual,
          body,
          type: built.type,
        });
      });
  // Each path with an ID, with each odd ID.
  const paths: [string, string, (id: string) => string, string][] = [
    ['GET /platform/v1/logs/{id}', 'GET', (id) => `/platform/v1/logs/${id}`, 'platform'],
    ['POST /platform/v1/logs/{id}/retry', 'POST', (id) => `/platform/v1/logs/${id}/retry`, 'platform'],
    [
      'GET /platform/v1/destinations/{id}/queue',
      'GET',
      (id) => `/platform/v1/destinations/${id}/queue`,
      'platform',
    ],
    [
      'POST /platform/v1/destinations/{id}/queue/pause',
      'POST',
      (id) => `/platform/v1/destinations/${id}/queue/pause`,
      'platform',
    ],
    [
      'POST /platform/v1/destinations/{id}/queue/resume',
      'POST',
      (id) => `/platform/v1/destinations/${id}/queue/resume`,
      'platform',
    ],
    [
      'POST /platform/v1/destinations/{id}/queue/skip',
      'POST',
      (id) => `/platform/v1/destinations/${id}/queue/skip`,
      'platform',
    ],
    [
      'GET /fhir/R4/{org}/{env}/{Type}/{id}',
      'GET',
      (id) => `/fhir/R4/acme/production/Patient/${id}`,
      'source',
    ],
  ];
  for (const [route, method, path, credential] of paths)
    for (const id of ODD_IDS)
      all.push((index) =>
        request(index, route, `ID ${id.slice(0, 40)}`, { method, path: path(id), credential }),
      );
  return all;
}
