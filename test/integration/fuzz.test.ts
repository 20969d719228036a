import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import { ERRORS } from '../../src/errors.ts';
import { OTHER_PLATFORM_KEY, PLATFORM_KEY, SECRET, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { settle } from '../helpers/wait.ts';

/**
 * A bounded, seeded fuzz of every inbound route (SPEC 2, 6; docs/errors.md; docs/gateway.md
 * "Hostile input" and "Limits"). 2,000 hostile inputs, each rebuilt from the seed and its index
 * alone (FUZZ_SEED=<n> runs another set): JSON of random shapes, 10,000-level nesting, multi-MB
 * bodies, wrong types in every Meta field, invalid UTF-8, `__proto__` / `constructor` /
 * `prototype` keys at the top and inside Meta, wrong and missing content types, odd methods, long
 * URLs, path traversal and percent-encoding in IDs, with valid credentials of either organization
 * and without. Most inputs change one thing of a valid request, some change everything.
 * Well-formed requests go through `fetch`; malformed HTTP (bad framing, truncated bodies, flipped
 * bytes, pipelining, header overflow) and slow clients (headers byte by byte, trickled bodies)
 * through raw `node:net` sockets, against short header and request timeouts.
 *
 * Every answer must: have a status documented for its API (never a 5xx: storage is up and every
 * destination answers); have that API's documented body (Redox `Meta.Errors`, RFC 6749 on the
 * token endpoints, `OperationOutcome` on FHIR, `{"error": {code, message}}` on the Platform API),
 * with the catalogue's status for its error ID or code; carry the security headers; hold no stack
 * trace, internal path, or anything of the other organization. Malformed HTTP that never reaches
 * a route may be refused at the connection level: 400, 408 or 431 with the headers and no body.
 * After every batch: `/healthz` and `/readyz` answer 200, the built-in prototypes of this
 * process (the server runs in it) are untouched, and the store holds exactly what the 200s
 * promised: each accepted message with all its logs, nothing for a refusal, no message without
 * logs.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_423);
const FAST_INPUTS = 1_990;
const BATCHES = 10;
const CONCURRENCY = 8;
const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 3_000;
const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// A seeded generator (mulberry32).

class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

const rngFor = (index: number): Rng =>
  new Rng(Math.imul(SEED ^ Math.imul(index + 1, 0x9e3779b1), 0x85ebca6b));

// ---------------------------------------------------------------------------------------------
// The server under test and what it holds.

type Org = 'acme' | 'other';
type Family = 'oauth' | 'dm' | 'fhir' | 'platform';

let h: Harness;
let receiver: Receiver;
const port = (): number => Number(new URL(h.url).port);

/** Credentials by name, and the organization whose data a valid one reaches. */
const credentials = new Map<string, { header?: string; org?: Org }>();
/** Log IDs known to exist, per organization: seeded, then every one a 200 named. */
const knownLogs: Record<Org, Set<string>> = { acme: new Set(), other: new Set() };
/** The message of every log an answer named, so a retry's copy is counted with its message. */
const messageOfLog = new Map<string, number>();
/** The seeded ones: what paths name, so that an input does not depend on earlier answers. */
const seededLogs: Record<Org, string[]> = { acme: [], other: [] };
let refreshToken = '';

/** What the store must hold: what the 200s promised. */
const expected: Record<Org, { messages: number; logs: number; tracked: Map<number, Set<string>> }> = {
  acme: { messages: 0, logs: 0, tracked: new Map() },
  other: { messages: 0, logs: 0, tracked: new Map() },
};
/**
 * A GET (a FHIR read or search) is handled as soon as its headers are in. When it announced a
 * body that then never comes (a truncated raw request), its query may have run and been logged
 * while the connection gets the 400 or 408 for the broken framing, or nothing: the store may
 * hold that many more query logs, and no more.
 */
const unanswered: Record<Org, number> = { acme: 0, other: 0 };

/** Payload marks and names of each organization: never in an answer to the other one. */
const MARK: Record<Org, string> = { acme: 'ACME-FUZZ', other: 'OTHR-FUZZ' };
const NAMES: Record<Org, RegExp> = {
  acme: /Acme (Health|EHR)|Destination app/,
  other: /Other (Health|EHR)|Other destination/,
};

const PROTOTYPES: [string, object][] = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
  ['Number.prototype', Number.prototype],
  ['Boolean.prototype', Boolean.prototype],
];
const CANARIES = ['polluted', 'isAdmin', 'fuzzCanary', 'DataModel'];

/** Every own key of the built-in prototypes, with its value (or getter). */
function prototypeSnapshot(): Map<string, unknown> {
  const snapshot = new Map<string, unknown>();
  for (const [name, proto] of PROTOTYPES)
    for (const key of Reflect.ownKeys(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
      snapshot.set(`${name}.${String(key)}`, descriptor.value ?? descriptor.get);
    }
  return snapshot;
}
let prototypesBefore: Map<string, unknown>;

before(async () => {
  prototypesBefore = prototypeSnapshot();
  receiver = await Receiver.start();
  const fhirBaseUrl = receiver.url.replace(/\/redox$/, '/fhir');
  h = await startHarness({
    destinations: [
      { id: 'app', url: receiver.url, fhirBaseUrl },
      { id: 'app2', url: receiver.url },
    ],
    subscribed: ['app', 'app2'],
    extraSubscriptions: [{ dataModel: 'PatientSearch', destination: 'app' }],
    other: { destinations: [{ id: 'private', url: receiver.url, fhirBaseUrl }], subscribed: ['private'] },
    server: {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      rateLimit: 10_000_000,
    },
  });
  const acme = await h.token('ehr-client');
  const other = await h.token('other-client');
  const forged = await new SignJWT({ org: 'acme', env: 'production', use: 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('switchboard')
    .setAudience('switchboard-api')
    .setSubject('ehr')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(createSecretKey(randomBytes(32)));
  credentials.set('source', { header: `Bearer ${acme}`, org: 'acme' });
  credentials.set('otherSource', { header: `Bearer ${other}`, org: 'other' });
  credentials.set('platform', { header: `Bearer ${PLATFORM_KEY}`, org: 'acme' });
  credentials.set('otherPlatform', { header: `Bearer ${OTHER_PLATFORM_KEY}`, org: 'other' });
  // Valid credentials of acme's, but of the other kind for most routes.
  credentials.set('basic', {
    header: `Basic ${Buffer.from(`ehr-client:${SECRET}`).toString('base64')}`,
    org: 'acme',
  });
  credentials.set('swapSource', { header: `Bearer ${PLATFORM_KEY}`, org: 'acme' });
  credentials.set('swapPlatform', { header: `Bearer ${acme}`, org: 'acme' });
  // Invalid ones.
  credentials.set('none', {});
  credentials.set('forged', { header: `Bearer ${forged}` });
  credentials.set('tampered', { header: `Bearer ${acme.slice(0, -4)}AAAA` });
  credentials.set('garbage', { header: 'Bearer not-a-token' });
  credentials.set('empty', { header: 'Bearer ' });
  credentials.set('long', { header: `Bearer ${'A'.repeat(6000)}` });
  credentials.set('noScheme', { header: acme });
  const legacy = await fetch(`${h.url}/auth/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: 'ehr-client', secret: SECRET }),
  });
  refreshToken = ((await legacy.json()) as { refreshToken: string }).refreshToken;
  // A few messages of each organization, so that paths can name real logs.
  for (const [org, name] of [
    ['acme', 'source'],
    ['other', 'otherSource'],
  ] as const)
    for (let i = 0; i < 3; i++) {
      const body = {
        Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
        Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
        P: `${MARK[org]}-SEED-${i}`,
      };
      const res = await fetch(`${h.url}/endpoint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: credentials.get(name)!.header! },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      account({ org, family: 'dm', path: '/endpoint', method: 'POST' }, res.status, null, await res.text());
    }
  seededLogs.acme = [...knownLogs.acme];
  seededLogs.other = [...knownLogs.other];
});

after(async () => {
  await h?.close();
  await receiver?.close();
});

// ---------------------------------------------------------------------------------------------
// Inputs.

interface Input {
  index: number;
  kind: 'fetch' | 'raw' | 'slow';
  route: string;
  strategy: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The organization a valid credential of the input reaches. */
  org?: Org;
  /** Raw inputs: the bytes, how the connection ends, and how many answers to wait for. */
  raw?: { bytes: Buffer; mode: 'send' | 'destroy' | 'end'; responses: number };
}

// prettier-ignore
const STRINGS = [
  '', ' ', 'null', 'true', '0', 'NaN', '\u0000', '\u0000\u0001\u001f\u007f', '\ud800', '\udfff\ud800', '\u2028\u2029',
  '\ufeff', '\u202e', '😀', 'é', 'ä'.repeat(100), '<script>alert(1)</script>', "' OR '1'='1", '"; DROP TABLE logs; --',
  '../../../../etc/passwd', '..\\..\\windows\\win.ini', '%00', '%2e%2e%2f', '${jndi:ldap://x/a}', '{{7*7}}', '__proto__',
  'constructor', 'prototype', 'toString', 'hasOwnProperty', 'PatientAdmin', 'NewPatient', 'app', 'app2', 'private',
  'nope', 'x'.repeat(300), '\r\n\r\nHTTP/1.1 200 OK', '2024-13-45T99:99:99Z', '1e309',
];
// prettier-ignore
const KEYS = [
  'Meta', 'DataModel', 'EventType', 'EventDateTime', 'Test', 'Destinations', 'ID', 'Name', 'Source', 'Logs', 'Errors',
  'Message', 'Patient', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', 'then', 'length',
  '', ' ', '0', '\u0000', '😀', 'a.b', '$ref',
];
const NUMBERS = [0, -1, 1, 0.5, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 1.7976931348623157e308, 42];
// prettier-ignore
const WRONG_VALUES: unknown[] = [
  null, 0, -1, 1.5, true, false, '', ' ', [], {}, [null], ['PatientAdmin'], { DataModel: 'PatientAdmin' }, { ID: 'app' },
  [{ ID: 7 }], [{}], ['app'], 'x'.repeat(10_000), 1e308,
];
// prettier-ignore
const META_FIELDS = [
  'DataModel', 'EventType', 'EventDateTime', 'Test', 'Destinations', 'Source', 'Message', 'Transmission', 'Logs',
  'Errors', 'FacilityCode', 'Extensions', 'Meta', 'Destinations[0]', 'Destinations[0].ID',
];
// prettier-ignore
const POLLUTERS = [
  '"__proto__":{"polluted":"yes","isAdmin":true}', '"\\u005f\\u005fproto__":{"polluted":"yes"}',
  '"__proto__":{"DataModel":"PatientAdmin","EventType":"NewPatient"}', '"constructor":{"prototype":{"polluted":"yes"}}',
  '"constructor":{"prototype":null}', '"prototype":{"polluted":"yes"}', '"__proto__":null', '"__proto__":[]',
  '"constructor":"x"',
];
const INVALID_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xc3],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
];
const JSON_TYPES = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
];
// prettier-ignore
const WRONG_TYPES = [
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml',
  'application/fhir+json', 'application/jsonx', 'json', '*/*', 'application/json, text/plain',
  'application/json; charset=utf-16', `application/${'x'.repeat(3000)}`, 'text/html', '',
];
// prettier-ignore
const ODD_IDS = [
  '', '.', '..', '%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f..%2f..%2fhealthz', '..%5c..%5c', '%00', '%ZZ', '%',
  '%E0%A4%A', '%C0%AE%C0%AE', '%F0%9F%98%80', '%FF%FE', 'a%20b', 'a;b', 'a,b', "a'b", '%3Cscript%3E', '~',
  "!$&()*+=:@'", 'a'.repeat(64), 'a'.repeat(101), 'a'.repeat(3000), 'é', '%u0041', 'null', '0', '-1',
  '999999999999999999999', '00000000-0000-0000-0000-000000000000', '__proto__', 'constructor', 'hasOwnProperty',
];
// prettier-ignore
const ODD_QUERIES = [
  '', '?', '?x=1', '?__proto__[polluted]=1', '?constructor[prototype][polluted]=1', '?a=%ZZ', '?a=%E0%A4%A',
  '?a[b][c][d][e]=1', `?q=${'x'.repeat(8000)}`, '?a=1&a=2&a=3', '?%00=%00', '?;;;',
];
const ODD_METHODS = [
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'HEAD',
  'GET',
  'POST',
  'PROPFIND',
  'PURGE',
  'QUERY',
];
// prettier-ignore
const ODD_HEADERS: Record<string, string>[] = [
  { 'idempotency-key': 'k-1' }, { 'idempotency-key': 'k-2' }, { 'idempotency-key': 'x'.repeat(256) },
  { 'idempotency-key': 'a b' }, { 'idempotency-key': 'é' }, { 'x-forwarded-for': '203.0.113.9, 10.0.0.1' },
  { 'content-encoding': 'gzip' }, { 'content-encoding': 'x-junk' }, { accept: 'application/xml' },
  { 'x-http-method-override': 'DELETE' }, { origin: 'https://evil.example' }, { 'x-request-id': 'x'.repeat(4000) },
  { 'x-switchboard-destination': 'private' }, { 'x-switchboard-destination': 'app2' }, { cookie: 'a=b'.repeat(500) },
];

/** Percent-encodes; a lone surrogate (which encodeURIComponent refuses) becomes U+FFFD first. */
const enc = (text: string): string => encodeURIComponent(text.toWellFormed());
const form = (params: [string, string][]): string => params.map(([k, v]) => `${k}=${v}`).join('&');
const json = (value: unknown): string => JSON.stringify(value) ?? 'null';

function randomString(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(STRINGS);
  let s = '';
  for (let n = rng.int(24); n > 0; n--)
    s += String.fromCodePoint(rng.pick([0x20 + rng.int(95), 0x80 + rng.int(0x780), 0x1f600 + rng.int(80)]));
  return s;
}

function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick(NUMBERS);
    case 3:
    case 4:
      return randomString(rng);
    case 5:
    case 6:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let n = rng.int(6); n > 0; n--)
        object[rng.chance(0.6) ? rng.pick(KEYS) : randomString(rng)] = randomJson(rng, depth + 1);
      return object;
    }
  }
}

function validMessage(rng: Rng, org: Org | undefined, query: boolean): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    DataModel: query
      ? rng.pick(['PatientSearch', 'PatientSearch', 'PatientAdmin', 'Clinical Summary'])
      : rng.pick(['PatientAdmin', 'PatientAdmin', 'Patient Admin', 'Scheduling']),
    EventType: rng.pick(['NewPatient', 'Arrival', 'Query']),
  };
  if (rng.chance(0.4)) meta.EventDateTime = new Date(1_760_000_000_000).toISOString();
  if (rng.chance(0.3)) meta.Test = rng.chance(0.5);
  if (rng.chance(0.4))
    meta.Destinations = rng.pick([
      [{ ID: 'app' }],
      [{ ID: 'app2' }],
      [{ ID: 'app' }, { ID: 'app2' }],
      [{ ID: 'app' }, { ID: 'app' }],
      [{ ID: 'private' }],
    ]);
  return {
    Meta: meta,
    Patient: { Identifiers: [{ ID: `${MARK[org ?? 'acme']}-${rng.int(1e6)}`, IDType: 'MR' }] },
  };
}

/** The message as JSON text with `fragment` spliced in first in the object at `where`. */
function inject(message: Record<string, unknown>, where: string, fragment: string): string {
  const marker = { __INJECT_HERE__: 0 };
  const copy = structuredClone(message) as Record<string, unknown> & { Meta: Record<string, unknown> };
  if (where === 'meta') copy.Meta = { ...marker, ...copy.Meta };
  if (where === 'destination') copy.Meta.Destinations = [{ ...marker, ID: 'app' }];
  if (where === 'deep') copy.Extra = { a: [{ b: { ...marker, c: 1 } }] };
  return JSON.stringify(where === 'top' ? { ...marker, ...copy } : copy).replace(
    '"__INJECT_HERE__":0',
    fragment,
  );
}

const nest = (n: number, kind: 'array' | 'object', inner = '1'): string =>
  kind === 'array'
    ? `${'['.repeat(n)}${inner}${']'.repeat(n)}`
    : `${'{"a":'.repeat(n)}${inner}${'}'.repeat(n)}`;

/** A Data Model API body: valid, or hostile in one of many ways. */
function dmBody(
  rng: Rng,
  org: Org | undefined,
  query: boolean,
  hostile: boolean,
): { body: Buffer; strategy: string } {
  const message = validMessage(rng, org, query);
  const text = json(message);
  // prettier-ignore
  const strategy = hostile
    ? rng.pick(['valid', 'random', 'wrongType', 'wrongType', 'deep', 'huge', 'utf8', 'proto', 'proto', 'proto', 'syntax', 'syntax', 'empty', 'unknown'])
    : 'valid';
  switch (strategy) {
    case 'random':
      return { strategy, body: Buffer.from(json(randomJson(rng))) };
    case 'wrongType': {
      const meta = message.Meta as Record<string, unknown>;
      const field = rng.pick(META_FIELDS);
      const value = rng.pick(WRONG_VALUES);
      if (field === 'Meta') message.Meta = value;
      else if (field === 'Destinations[0]') meta.Destinations = [value, { ID: 'app' }];
      else if (field === 'Destinations[0].ID') meta.Destinations = [{ ID: value }];
      else meta[field] = value;
      return { strategy: `wrongType ${field}=${json(value).slice(0, 20)}`, body: Buffer.from(json(message)) };
    }
    case 'deep': {
      const levels = rng.pick([1_000, 10_000, 10_000, 20_000]);
      const deep = nest(levels, rng.pick(['array', 'object'] as const));
      const where = rng.pick(['top', 'meta', 'payload', 'metaItself']);
      const body = {
        top: deep,
        meta: text.replace('"Meta":{', `"Meta":{"Deep":${deep},`),
        payload: `${text.slice(0, -1)},"Deep":${deep}}`,
        metaItself: `{"Meta":${nest(levels, 'object', json(message.Meta))}}`,
      }[where]!;
      return { strategy: `deep ${levels} ${where}`, body: Buffer.from(body) };
    }
    case 'huge': {
      const size = rng.pick([1, 2, 4]) * MB;
      const shape = rng.pick(['string', 'array', 'keys']);
      const filler = {
        string: () => `"${'x'.repeat(size)}"`,
        array: () => `[${'1,'.repeat(size / 4)}1]`,
        keys: () => `{${Array.from({ length: size / 32 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
      }[shape]!();
      return {
        strategy: `huge ${size / MB} MB ${shape}`,
        body: Buffer.from(`${text.slice(0, -1)},"Huge":${filler}}`),
      };
    }
    case 'utf8': {
      const bytes = Buffer.from(text);
      const quotes = [...bytes.entries()].filter(([, b]) => b === 0x22).map(([i]) => i);
      const at = rng.chance(0.7) ? rng.pick(quotes) + 1 : rng.int(bytes.length);
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      return {
        strategy: 'invalid UTF-8',
        body: Buffer.concat([bytes.subarray(0, at), bad, bytes.subarray(at)]),
      };
    }
    case 'proto': {
      const where = rng.pick(['top', 'meta', 'destination', 'deep']);
      const fragment = rng.pick(POLLUTERS);
      return {
        strategy: `proto in ${where}: ${fragment}`,
        body: Buffer.from(inject(message, where, fragment)),
      };
    }
    case 'syntax': {
      const at = rng.int(text.length);
      // prettier-ignore
      const mutations: Record<string, () => string> = {
        truncate: () => text.slice(0, at),
        insert: () => text.slice(0, at) + rng.pick(['{', '}', '[', ']', '"', ',', ':', '\\', 'x', ' ']) + text.slice(at),
        delete: () => text.slice(0, at) + text.slice(at + 1),
        'duplicate Meta': () => `${text.slice(0, -1)},"Meta":${json(rng.pick(WRONG_VALUES))}}`,
        trailing: () => `${text} ${rng.pick(['x', '{}', '\u0000', 'null'])}`,
        bom: () => `\ufeff${text}`,
        literal: () => text.replace(/:("[^"]*"|\d+|true|false)/, `:${rng.pick(['NaN', 'Infinity', '-', '01', '1e999', 'undefined', '.5', '0x10'])}`),
        comment: () => text.replace('{', '{/* c */'),
        quotes: () => text.replaceAll('"', "'"),
        comma: () => text.replace(/}$/, ',}'),
        control: () => text.replace('"Meta"', '"Me\u0001ta"'),
        escape: () => text.replace('"Meta"', '"Me\\uZZZZta"'),
      };
      const mutation = rng.pick(Object.keys(mutations));
      return { strategy: `syntax: ${mutation}`, body: Buffer.from(mutations[mutation]!()) };
    }
    case 'empty':
      return {
        strategy: 'empty',
        body: Buffer.from(rng.pick(['', ' ', '\n', 'null', '[]', '0', '"x"', '{}', 'true'])),
      };
    case 'unknown': {
      const meta = message.Meta as Record<string, unknown>;
      if (rng.chance(0.5))
        meta.DataModel = rng.pick(['NotAModel', 'constructor', '__proto__', 'toString', '']);
      else meta.Destinations = [{ ID: rng.pick(['nope', 'private', 'app ', 'APP', '__proto__', '']) }];
      return {
        strategy: `unknown ${json(meta.DataModel)} ${json(meta.Destinations)}`,
        body: Buffer.from(json(message)),
      };
    }
    default:
      return { strategy: 'valid', body: Buffer.from(text) };
  }
}

interface Built {
  path: string;
  body?: Buffer;
  type?: string;
  headers?: Record<string, string>;
  strategy: string;
}

interface RouteDef {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT';
  /** The credential a valid request carries. */
  usual: string;
  /** A valid request, or (`hostile`) one with odd IDs, parameters or body. */
  build(rng: Rng, org: Org | undefined, hostile: boolean): Built;
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const b64 = (value: string): string => Buffer.from(value).toString('base64url');
// prettier-ignore
const ASSERTIONS = [
  'a.b.c', '', `${b64('{"alg":"none"}')}.${b64('{"iss":"ehr-client"}')}.`, 'x'.repeat(50_000),
  `${b64('{"alg":"RS256","kid":"x"}')}.${b64('{"iss":"ehr-client","sub":"ehr-client","exp":9999999999,"jti":"x"}')}.AAAA`,
  `${b64('{"alg":"HS256"}')}.${b64('{"iss":"ehr-client","sub":"ehr-client","aud":"x","exp":9999999999,"jti":"y"}')}.AAAA`,
];

/**
 * The catalog's resources (SPEC 6). Valid bodies name what already exists (an id, a route),
 * so they answer 409 and the catalog the rest of the run relies on stays as it is; platform
 * keys may be added (201), which changes nothing else.
 */
const CATALOG_BODIES: Record<string, Record<string, unknown>> = {
  sources: { id: 'ehr', name: 'Again', environment: 'production', clientId: 'ehr-client' },
  destinations: { id: 'app', name: 'Again', environment: 'production', url: 'http://127.0.0.1:9/x' },
  subscriptions: { source: 'ehr', dataModel: 'PatientAdmin', destination: 'app' },
  'platform-keys': { name: 'fuzz' },
  organizations: { id: 'acme', name: 'Again' },
};

function catalogBody(
  rng: Rng,
  valid: Record<string, unknown>,
  hostile: boolean,
): { body: string; how: string } {
  if (!hostile) return { body: json(valid), how: 'valid' };
  const how = rng.pick(['field', 'extra', 'proto', 'random', 'syntax', 'array']);
  const fields = Object.keys(valid);
  const body = {
    field: () => json({ ...valid, [rng.pick(fields)]: rng.pick(WRONG_VALUES) }),
    extra: () => json({ ...valid, [rng.pick(['bogus', 'secretHash', 'origin', 'orgId'])]: 'x' }),
    proto: () => `{${rng.pick(POLLUTERS)},${json(valid).slice(1)}`,
    random: () => json(randomJson(rng)),
    syntax: () => json(valid).slice(0, -3),
    array: () => json([valid]),
  }[how]!();
  return { body, how };
}

const CATALOG_ROUTES: RouteDef[] = [
  ...Object.entries(CATALOG_BODIES).map(([kind, valid]): RouteDef => ({
    name: `POST /platform/v1/${kind}`,
    method: 'POST',
    usual: 'platform',
    build(rng, _org, hostile) {
      const { body, how } = catalogBody(rng, valid, hostile);
      return {
        path: `/platform/v1/${kind}`,
        body: Buffer.from(body),
        type: 'application/json',
        strategy: `create ${kind} ${how}: ${body.slice(0, 60)}`,
      };
    },
  })),
  ...(['sources', 'destinations'] as const).map((kind): RouteDef => ({
    name: `PATCH /platform/v1/${kind}/{id}`,
    method: 'PATCH',
    usual: 'platform',
    build(rng, _org, hostile) {
      // The harness's are the config file's: a valid change is refused (409), never applied.
      const id = hostile && rng.chance(0.3) ? rng.pick(ODD_IDS) : rng.pick(['ehr', 'app', 'private', 'nope']);
      const { body, how } = catalogBody(rng, { name: 'Renamed' }, hostile);
      return {
        path: `/platform/v1/${kind}/${id}`,
        body: Buffer.from(body),
        type: 'application/json',
        strategy: `patch ${kind}/${id.slice(0, 30)} ${how}: ${body.slice(0, 50)}`,
      };
    },
  })),
];

const ROUTES: RouteDef[] = [
  {
    name: 'POST /v2/auth/token',
    method: 'POST',
    usual: 'none',
    build(rng, _org, hostile) {
      const path = '/v2/auth/token';
      const type = 'application/x-www-form-urlencoded';
      if (!hostile)
        return {
          path,
          type,
          strategy: 'client secret',
          body: Buffer.from(
            form([
              ['grant_type', 'client_credentials'],
              ['client_id', 'ehr-client'],
              ['client_secret', SECRET],
            ]),
          ),
        };
      const params: [string, string][] = [];
      if (rng.chance(0.85))
        params.push(['grant_type', rng.pick(['client_credentials', 'client_credentials', '', 'password'])]);
      const how = rng.pick(['secret', 'assertion', 'junk', 'basic', 'json']);
      if (how === 'secret') {
        params.push([
          'client_id',
          rng.pick(['ehr-client', 'other-client', 'nobody', '', enc(randomString(rng))]),
        ]);
        params.push([
          'client_secret',
          rng.pick([SECRET, 'wrong', '', enc(randomString(rng)), 'x'.repeat(20_000)]),
        ]);
      }
      if (how === 'assertion') {
        params.push(['client_assertion_type', rng.pick([JWT_BEARER, JWT_BEARER, 'x'])]);
        params.push(['client_assertion', rng.pick(ASSERTIONS)]);
        if (rng.chance(0.3)) params.push(['client_id', 'ehr-client']);
      }
      if (how === 'junk')
        for (let n = rng.int(5); n >= 0; n--)
          params.push([
            rng.pick([
              '__proto__',
              'constructor[prototype][polluted]',
              'grant_type',
              'client_id',
              '%ZZ',
              enc(randomString(rng)),
            ]),
            rng.pick(['1', '%', '%ZZ', enc(randomString(rng))]),
          ]);
      const headers: Record<string, string> = {};
      if (how === 'basic')
        headers.authorization = `Basic ${Buffer.from(rng.pick([`ehr-client:${SECRET}`, 'ehr-client:wrong', 'nocolon', ':', 'é:é'])).toString('base64')}`;
      const body = how === 'json' ? json(randomJson(rng)) : form(params);
      return { path, body: Buffer.from(body), type, headers, strategy: `token: ${how} ${body.slice(0, 60)}` };
    },
  },
  {
    name: 'POST /auth/authenticate',
    method: 'POST',
    usual: 'none',
    build(rng, _org, hostile) {
      const fields = hostile
        ? {
            apiKey: rng.pick(['ehr-client', 'nobody', ...WRONG_VALUES]),
            secret: rng.pick([SECRET, 'wrong', ...WRONG_VALUES]),
          }
        : { apiKey: 'ehr-client', secret: SECRET };
      const how = hostile ? rng.pick(['fields', 'proto', 'random', 'syntax']) : 'valid';
      const body = {
        valid: () => json(fields),
        fields: () => json(fields),
        proto: () => `{${rng.pick(POLLUTERS)},${json(fields).slice(1)}`,
        random: () => json(randomJson(rng)),
        syntax: () => json(fields).slice(0, rng.int(30)),
      }[how]!();
      return {
        path: '/auth/authenticate',
        body: Buffer.from(body),
        type: 'application/json',
        strategy: `legacy ${how}: ${body.slice(0, 60)}`,
      };
    },
  },
  {
    name: 'POST /auth/refreshToken',
    method: 'POST',
    usual: 'none',
    build(rng, _org, hostile) {
      const fields = {
        apiKey: hostile ? rng.pick(['ehr-client', 'other-client', ...WRONG_VALUES]) : 'ehr-client',
        refreshToken: hostile
          ? rng.pick([refreshToken, `${refreshToken.slice(0, -3)}abc`, 'a.b.c', ...WRONG_VALUES])
          : refreshToken,
      };
      const how = hostile ? rng.pick(['fields', 'proto', 'random']) : 'valid';
      const body =
        how === 'proto'
          ? `{${rng.pick(POLLUTERS)},${json(fields).slice(1)}`
          : how === 'random'
            ? json(randomJson(rng))
            : json(fields);
      return {
        path: '/auth/refreshToken',
        body: Buffer.from(body),
        type: 'application/json',
        strategy: `refresh ${how}`,
      };
    },
  },
  {
    name: 'POST /endpoint',
    method: 'POST',
    usual: 'source',
    build(rng, org, hostile) {
      const { body, strategy } = dmBody(rng, org, false, hostile);
      // prettier-ignore
      const path = hostile && rng.chance(0.1) ? rng.pick(['/endpoint/', '/Endpoint', '/endpoint?x=%ZZ', '//endpoint', '/endpoint;x', '/%65ndpoint']) : '/endpoint';
      return { path, body, type: 'application/json', strategy };
    },
  },
  {
    name: 'POST /query',
    method: 'POST',
    usual: 'source',
    build(rng, org, hostile) {
      const { body, strategy } = dmBody(rng, org, true, hostile);
      const path = hostile && rng.chance(0.1) ? rng.pick(['/query/', '/QUERY', '/query?x=%ZZ']) : '/query';
      return { path, body, type: 'application/json', strategy };
    },
  },
  ...(['GET _search', 'POST _search', 'GET read'] as const).map((kind): RouteDef => ({
    name:
      kind === 'GET read'
        ? 'GET /fhir/R4/{org}/{env}/{Type}/{id}'
        : `${kind.slice(0, kind.indexOf(' '))} /fhir/R4/{org}/{env}/{Type}/_search`,
    method: kind.startsWith('GET') ? 'GET' : 'POST',
    usual: 'source',
    build(rng, org, hostile) {
      const odd = (p: number): boolean => hostile && rng.chance(p);
      const pathOrg = odd(0.25)
        ? rng.pick(['other', 'nope', '..', '%2e%2e', 'ACME', 'a'.repeat(200), '%00', ''])
        : (org ?? 'acme');
      const env = odd(0.2) ? rng.pick(['staging', 'development', 'prod', '%ZZ', '']) : 'production';
      // prettier-ignore
      const type = odd(0.3) ? rng.pick(['patient', 'Nope', 'constructor', '__proto__', 'toString', '%50atient', 'Patient%00', 'a'.repeat(150), '..']) : rng.pick(['Patient', 'Observation', 'Encounter']);
      const tail =
        kind !== 'GET read'
          ? '_search'
          : odd(0.6)
            ? rng.pick(ODD_IDS)
            : rng.pick(['p1', '123', 'a.b-c', 'A'.repeat(64)]);
      const query =
        kind === 'POST _search' && rng.chance(0.6)
          ? ''
          : odd(0.5)
            ? rng.pick(ODD_QUERIES)
            : `?name=${enc(randomString(rng))}`;
      const headers: Record<string, string> = {};
      if (odd(0.15))
        headers['x-switchboard-destination'] = rng.pick([
          'app',
          'app2',
          'private',
          'nope',
          '',
          'x'.repeat(500),
        ]);
      const path = `/fhir/R4/${pathOrg}/${env}/${type}/${tail}${query}`;
      const strategy = `fhir ${kind} ${path.slice(0, 80)}`;
      if (kind !== 'POST _search') return { path, strategy, headers };
      const how = hostile ? rng.pick(['form', 'json', 'bytes', 'huge', 'proto']) : 'form';
      // prettier-ignore
      const body = {
          form: () => Buffer.from(form([[rng.pick(['name', '_id', 'birthdate', '__proto__', '%ZZ']), enc(randomString(rng))], ['_count', rng.pick(['10', '-1', 'x'])]])),
          json: () => Buffer.from(json(randomJson(rng))),
          bytes: () => randomBytes(rng.int(200)),
          huge: () => Buffer.from(`name=${'x'.repeat(2 * MB)}`),
          proto: () => Buffer.from('__proto__[polluted]=1&constructor[prototype][polluted]=1'),
        }[how]!();
      return {
        path,
        body,
        type: 'application/x-www-form-urlencoded',
        strategy: `${strategy} body ${how}`,
        headers,
      };
    },
  })),
  {
    name: 'GET /.well-known/oauth-authorization-server',
    method: 'GET',
    usual: 'none',
    build(rng, _org, hostile) {
      const suffix = hostile
        ? rng.pick(['/x', '/%00', `/${enc(randomString(rng))}`, rng.pick(ODD_QUERIES)])
        : '';
      return {
        path: `/.well-known/oauth-authorization-server${suffix}`,
        strategy: `metadata ${suffix.slice(0, 40)}`,
      };
    },
  },
  {
    name: 'GET /platform/v1/logs',
    method: 'GET',
    usual: 'platform',
    build(rng, _org, hostile) {
      // prettier-ignore
      const names = ['status', 'dataModel', 'eventType', 'sourceId', 'destinationId', 'test', 'from', 'to', 'messageId', 'q', 'cursor', 'limit', 'match', 'bogus', '__proto__', 'constructor', 'q[]', 'limit[0]'];
      // prettier-ignore
      const values = ['pending', 'succeeded', 'failed', 'PatientAdmin', 'Patient Admin', 'ehr', 'app', 'private', 'true', '2024-01-01T00:00:00Z', '2024-99-99T00:00:00Z', '0', '-1', '500', '501', '99999999999999999', 'ACME-FUZZ', 'OTHR-FUZZ', 'prefix', 'exact', 'substring', '%ZZ', '%00', "'", 'x'.repeat(1025), enc(randomString(rng))];
      const count = hostile ? 1 + rng.int(4) : rng.int(2);
      const params = Array.from(
        { length: count },
        () => `${rng.pick(hostile ? names : names.slice(0, 13))}=${rng.pick(values)}`,
      );
      const query = params.length ? `?${params.join('&')}` : hostile ? rng.pick(ODD_QUERIES) : '';
      return { path: `/platform/v1/logs${query}`, strategy: `logs${query.slice(0, 80)}` };
    },
  },
  {
    name: 'POST /platform/v1/logs/retry',
    method: 'POST',
    usual: 'platform',
    build(rng, _org, hostile) {
      // Dry runs: real bulk retries would make logs the run's accounting of answers does not know.
      const params = ['dryRun=true', `q=${rng.pick(['ACME-FUZZ', 'OTHR-FUZZ', 'NOPE'])}`];
      if (hostile)
        params.push(
          rng.pick([
            'status=bogus',
            'dryRun=maybe',
            'match=substring',
            'limit=5',
            `q=${'x'.repeat(1025)}`,
            'cursor=x',
          ]),
        );
      return {
        path: `/platform/v1/logs/retry?${params.join('&')}`,
        strategy: `bulk retry ${params.join('&').slice(0, 60)}`,
      };
    },
  },
  ...(['GET search', 'POST create', 'PUT update', 'GET metadata'] as const).map((kind): RouteDef => ({
    name: {
      'GET search': 'GET /fhir/R4/{org}/{env}/{Type}',
      'POST create': 'POST /fhir/R4/{org}/{env}/{Type}',
      'PUT update': 'PUT /fhir/R4/{org}/{env}/{Type}/{id}',
      'GET metadata': 'GET /fhir/R4/{org}/{env}/metadata',
    }[kind],
    method: kind.startsWith('GET') ? 'GET' : kind.startsWith('PUT') ? 'PUT' : 'POST',
    usual: kind === 'GET metadata' ? 'none' : 'source',
    build(rng, org, hostile) {
      const odd = (p: number): boolean => hostile && rng.chance(p);
      const pathOrg = odd(0.25)
        ? rng.pick(['other', 'nope', '..', '%2e%2e', 'ACME', '%00'])
        : (org ?? 'acme');
      const type = odd(0.3) ? rng.pick(['patient', 'Nope', '__proto__', 'Patient%00', '..']) : 'Patient';
      if (kind === 'GET metadata')
        return {
          path: `/fhir/R4/${pathOrg}/production/metadata${odd(0.5) ? rng.pick(ODD_QUERIES) : ''}`,
          strategy: 'fhir metadata',
        };
      if (kind === 'GET search')
        return {
          path: `/fhir/R4/${pathOrg}/production/${type}${odd(0.5) ? rng.pick(ODD_QUERIES) : `?family=${enc(randomString(rng))}`}`,
          strategy: `fhir search ${type}`,
        };
      const id = odd(0.4) ? rng.pick(ODD_IDS) : 'p1';
      const resource = {
        resourceType: odd(0.3) ? rng.pick(['Observation', '', 7, null]) : 'Patient',
        ...(kind === 'PUT update' ? { id: odd(0.3) ? 'other' : id } : {}),
        name: [{ family: randomString(rng) }],
      };
      const body = odd(0.4)
        ? rng.pick([
            json(randomJson(rng)),
            `{${rng.pick(POLLUTERS)},"resourceType":"Patient"}`,
            '{"resourceType":',
            '[]',
          ])
        : json(resource);
      return {
        path: `/fhir/R4/${pathOrg}/production/${type}${kind === 'PUT update' ? `/${id}` : ''}`,
        body: Buffer.from(body),
        type: rng.pick(['application/fhir+json', 'application/json']),
        strategy: `fhir ${kind}: ${body.slice(0, 50)}`,
      };
    },
  })),
  ...(['GET log', 'POST retry'] as const).map((kind): RouteDef => ({
    name: kind === 'GET log' ? 'GET /platform/v1/logs/{id}' : 'POST /platform/v1/logs/{id}/retry',
    method: kind === 'GET log' ? 'GET' : 'POST',
    usual: 'platform',
    build(rng, _org, hostile) {
      const real = [...seededLogs.acme, ...seededLogs.other.slice(0, 1)];
      const id = hostile
        ? rng.pick([...ODD_IDS, ...real.map((r) => r.toUpperCase()), ...real.map((r) => `${r}%00`)])
        : rng.pick(real);
      const path = kind === 'GET log' ? `/platform/v1/logs/${id}` : `/platform/v1/logs/${id}/retry`;
      if (kind === 'GET log' || !hostile || rng.chance(0.6))
        return { path, strategy: `${kind} ${id.slice(0, 60)}` };
      return {
        path,
        body: Buffer.from(json(randomJson(rng))),
        type: 'application/json',
        strategy: `${kind} with a body`,
      };
    },
  })),
  ...(['queue', 'pause', 'resume', 'skip'] as const).map((op): RouteDef => ({
    name:
      op === 'queue'
        ? 'GET /platform/v1/destinations/{id}/queue'
        : `POST /platform/v1/destinations/{id}/queue/${op}`,
    method: op === 'queue' ? 'GET' : 'POST',
    usual: 'platform',
    build(rng, _org, hostile) {
      const id =
        hostile && rng.chance(0.5) ? rng.pick(ODD_IDS) : rng.pick(['app', 'app2', 'private', 'nope']);
      const path = `/platform/v1/destinations/${id}/queue${op === 'queue' ? '' : `/${op}`}`;
      if (op === 'queue' || rng.chance(0.4)) return { path, strategy: `queue ${op} ${id.slice(0, 40)}` };
      const how = hostile ? rng.pick(['fields', 'proto', 'random', 'syntax']) : 'valid';
      const fields = hostile
        ? {
            by: rng.pick(['ops', '', ...WRONG_VALUES]),
            reason: rng.pick(['why', 'x'.repeat(2001), ...WRONG_VALUES]),
          }
        : { by: 'fuzz', reason: 'testing' };
      const body = {
        valid: () => json(fields),
        fields: () => json(fields),
        proto: () => `{${rng.pick(POLLUTERS)},"by":"x"}`,
        random: () => json(randomJson(rng)),
        syntax: () => '{"by":',
      }[how]!();
      return {
        path,
        body: Buffer.from(body),
        type: 'application/json',
        strategy: `queue ${op} ${how}: ${body.slice(0, 60)}`,
      };
    },
  })),
  {
    name: 'POST /platform/v1/destinations/{id}/verify',
    method: 'POST',
    usual: 'platform',
    build(rng, _org, hostile) {
      const id =
        hostile && rng.chance(0.5) ? rng.pick(ODD_IDS) : rng.pick(['app', 'app2', 'private', 'nope']);
      const path = `/platform/v1/destinations/${id}/verify`;
      if (!hostile) return { path, strategy: `verify ${id}` };
      const body = rng.pick([
        json({ method: rng.pick(['GET', 'POST', 'PUT', '', ...WRONG_VALUES]) }),
        `{${rng.pick(POLLUTERS)},"method":"GET"}`,
        json(randomJson(rng)),
        '{"method":',
      ]);
      return {
        path,
        body: Buffer.from(body),
        type: 'application/json',
        strategy: `verify: ${body.slice(0, 60)}`,
      };
    },
  },
  ...CATALOG_ROUTES,
  ...(['/healthz', '/readyz'] as const).map((path): RouteDef => ({
    name: `GET ${path}`,
    method: 'GET',
    usual: 'none',
    build: (rng, _org, hostile) => ({
      path: `${path}${hostile ? rng.pick(ODD_QUERIES) : ''}`,
      strategy: 'probe',
    }),
  })),
];

/**
 * A well-formed request (sent with fetch). Most change one thing of a valid request: its
 * payload (body, IDs, parameters), credential, method, content type or headers; some change
 * everything at once.
 */
function buildFetch(index: number, rng: Rng): Input {
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
function sweep(): ((index: number) => Input)[] {
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

/**
 * Malformed or unusual HTTP, written byte for byte on a socket. The first raw inputs of a run
 * (by `position`) go through every malformed template once; the others pick at random.
 */
function buildRaw(index: number, rng: Rng, position: number): Input {
  const base = buildFetch(index, rng);
  const host = 'Host: 127.0.0.1\r\n';
  const auth = base.headers.authorization ? `Authorization: ${base.headers.authorization}\r\n` : '';
  const type = base.headers['content-type'] ? `Content-Type: ${base.headers['content-type']}\r\n` : '';
  const body = base.body ?? Buffer.alloc(0);
  const head = `${base.method} ${base.path} HTTP/1.1\r\n${host}${auth}${type}Connection: close\r\n`;
  const full = Buffer.concat([Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n`), body]);
  const valid = json({
    Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
    P: `${MARK.acme}-RAW`,
  });
  const token = `Authorization: ${credentials.get('source')!.header!}\r\n`;
  const pk = `Authorization: Bearer ${PLATFORM_KEY}\r\n`;
  const post = (path: string, headers: string, content: string | Buffer): Buffer =>
    Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\n${host}${headers}\r\n`), Buffer.from(content)]);
  // prettier-ignore
  const malformed: [string, () => Buffer, number?][] = [
    ['unknown method', () => Buffer.from(`FOO ${base.path} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['lower-case method', () => Buffer.from(`get /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['TRACE', () => Buffer.from(`TRACE ${base.path} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['CONNECT', () => Buffer.from('CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n')],
    ['M-SEARCH', () => Buffer.from(`M-SEARCH * HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['HTTP/9.9', () => Buffer.from(`GET /healthz HTTP/9.9\r\n${host}\r\n`)],
    ['HTTP/0.9', () => Buffer.from('GET /healthz\r\n\r\n')],
    ['HTTP/2 preface', () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['space in URL', () => Buffer.from(`GET /platform/v1/logs/a b HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['raw bytes in URL', () => Buffer.concat([Buffer.from('GET /platform/v1/logs/'), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(` HTTP/1.1\r\n${host}\r\n`)])],
    ['NUL in header', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-A: a\u0000b\r\nConnection: close\r\n\r\n`)],
    ['obs-fold', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-A: a\r\n b\r\nConnection: close\r\n\r\n`)],
    ['bare LF', () => Buffer.from('GET /healthz HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n')],
    ['CR only', () => Buffer.from('GET /healthz HTTP/1.1\rHost: 127.0.0.1\r\r')],
    ['no colon', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}Broken header\r\nConnection: close\r\n\r\n`)],
    ['space before colon', () => Buffer.from('GET /healthz HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n')],
    ['empty header name', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}: x\r\nConnection: close\r\n\r\n`)],
    ['tab in value', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-A:\ta\tb\t\r\nConnection: close\r\n\r\n`)],
    ['non-ASCII header value', () => Buffer.concat([Buffer.from(`GET /platform/v1/logs HTTP/1.1\r\n${host}Authorization: Bearer `), Buffer.from([0xe9, 0xff]), Buffer.from('\r\nConnection: close\r\n\r\n')])],
    ['Content-Length and Transfer-Encoding', () => post('/endpoint', `${token}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n`, '0\r\n\r\n')],
    ['two Content-Lengths', () => post('/endpoint', `${token}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n`, '{}')],
    ['negative Content-Length', () => post('/endpoint', 'Content-Type: application/json\r\nContent-Length: -1\r\n', '{}')],
    ['Content-Length 1e3', () => post('/endpoint', 'Content-Type: application/json\r\nContent-Length: 1e3\r\n', '{}')],
    ['bad chunk size', () => post('/endpoint', `${token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n`, 'zz\r\n{}\r\n0\r\n\r\n')],
    ['chunk extension junk', () => post('/endpoint', `${token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n`, '2;\u0001\r\n{}\r\n0\r\n\r\n')],
    ['Transfer-Encoding twice', () => post('/endpoint', 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', '2\r\n{}\r\n0\r\n\r\n')],
    ['Transfer-Encoding gzip', () => post('/endpoint', 'Content-Type: application/json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n', '{}')],
    ['chunked, valid', () => post('/endpoint', `${token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n`, `${valid.length.toString(16)}\r\n${valid}\r\n0\r\n\r\n`)],
    ['form body to /endpoint', () => post('/endpoint', `${token}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n`, 'Meta=1&')],
    ['Expect: foo', () => post('/endpoint', `${token}Content-Type: application/json\r\nExpect: foo\r\nContent-Length: ${valid.length}\r\nConnection: close\r\n`, valid)],
    ['Expect: 100-continue', () => post('/endpoint', `${token}Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${valid.length}\r\nConnection: close\r\n`, valid)],
    ['header over 16 KB', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`)],
    ['5000 headers', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}${'X-A: b\r\n'.repeat(5000)}\r\n`)],
    ['URL over 16 KB', () => Buffer.from(`GET /platform/v1/logs/${'a'.repeat(20_000)} HTTP/1.1\r\n${host}\r\n`)],
    ['URL of 12 KB', () => Buffer.from(`GET /platform/v1/logs/${'a'.repeat(12_000)} HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['absolute-form', () => Buffer.from(`GET http://evil.example/platform/v1/logs HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['absolute-form, bad parameter', () => Buffer.from(`GET http://evil.example/platform/v1/logs?status=x HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['absolute-form, unknown FHIR type', () => Buffer.from(`GET HTTPS://x/fhir/R4/acme/production/Nope/1 HTTP/1.1\r\n${host}${token}Connection: close\r\n\r\n`)],
    ['absolute-form, no route', () => Buffer.from(`POST http://x/platform/v1/logs/x HTTP/1.1\r\n${host}${pk}Content-Length: 0\r\nConnection: close\r\n\r\n`)],
    ['asterisk-form', () => Buffer.from(`OPTIONS * HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['no Host', () => Buffer.from(`GET /platform/v1/logs HTTP/1.1\r\n${pk}Connection: close\r\n\r\n`)],
    ['two Hosts', () => Buffer.from('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')],
    ['HTTP/1.0 without Host', () => Buffer.from('GET /healthz HTTP/1.0\r\n\r\n')],
    ['Upgrade', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`)],
    ['dot segments', () => Buffer.from(`GET /platform/v1/logs/../../healthz HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['dot segments into another FHIR org', () => Buffer.from(`GET /fhir/R4/acme/production/../../other/production/Patient/p1 HTTP/1.1\r\n${host}${token}Connection: close\r\n\r\n`)],
    ['backslashes', () => Buffer.from(`GET /platform\\v1\\logs HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['pipelined', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}\r\nGET /readyz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`), 2],
    ['pipelined, then garbage', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}\r\nGET /readyz HTTP/1.1\r\n${host}\r\n\u0000\u0001garbage\r\n\r\n`), 3],
  ];
  const sweep = malformed[position];
  const strategy = sweep
    ? 'malformed'
    : rng.pick([
        'flip',
        'flip',
        'flip',
        'truncate-destroy',
        'truncate-end',
        'headers-cut',
        'malformed',
        'malformed',
        'malformed',
        'malformed',
      ]);
  const raw = (bytes: Buffer, mode: 'send' | 'destroy' | 'end' = 'send', responses = 1): Input['raw'] => ({
    bytes,
    mode,
    responses,
  });
  let what = `${strategy} of ${base.strategy}`;
  let bytes: Input['raw'];
  if (strategy === 'flip') {
    const flipped = Buffer.from(full);
    for (let n = 1 + rng.int(3); n > 0; n--) flipped[rng.int(flipped.length)] = rng.int(256);
    bytes = raw(flipped);
  } else if (strategy === 'truncate-destroy' || strategy === 'truncate-end') {
    // The body announced is longer than the body sent; then the connection is dropped or half-closed.
    const announced = `${head}Content-Length: ${body.length + 1 + rng.int(1000)}\r\n\r\n`;
    const cut = Buffer.concat([Buffer.from(announced), body.subarray(0, rng.int(body.length + 1))]);
    bytes = raw(cut, strategy === 'truncate-destroy' ? 'destroy' : 'end');
  } else if (strategy === 'headers-cut') {
    bytes = raw(full.subarray(0, rng.int(full.indexOf('\r\n\r\n') + 2)), 'end');
  } else {
    const [name, make, responses] = sweep ?? rng.pick(malformed);
    what = `malformed: ${name}`;
    bytes = raw(make(), 'send', responses);
  }
  return { ...base, kind: 'raw', strategy: what, raw: bytes };
}

// ---------------------------------------------------------------------------------------------
// The rules.

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
function familyOf(path: string): Family {
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

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What the server saw: the path (with its query), the method, and whose credential. */
interface Sent {
  org?: Org;
  family: Family;
  path: string;
  method: string;
}

/** Every rule an answer breaks (none, when it keeps them all). */
function check(sent: Sent, answer: Answer, requestText: string): string[] {
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
function account(sent: Sent, status: number, replayed: string | null | undefined, text: string): void {
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

// ---------------------------------------------------------------------------------------------
// Sending, and reading what came back.

interface Break {
  input: string;
  rule: string;
  answer: string;
}
const breaks: Break[] = [];
const statusCounts = new Map<string, number>();
const tally = (key: string): void => void statusCounts.set(key, (statusCounts.get(key) ?? 0) + 1);

function describe(input: Input): string {
  const body = input.raw?.bytes ?? input.body;
  const preview = body ? json(body.subarray(0, 300).toString('latin1')) : '(none)';
  const headers = Object.fromEntries(
    Object.entries(input.headers).map(([k, v]) => [
      k,
      v.length > 80 ? `${v.slice(0, 80)}...(${v.length})` : v,
    ]),
  );
  const what = input.raw
    ? `raw (${input.raw.mode}), ${body?.length} bytes: ${preview}`
    : `${input.method} ${input.path.slice(0, 200)} headers=${json(headers)} body (${body?.length ?? 0} bytes)=${preview}`;
  return `#${input.index} of FUZZ_SEED=${SEED}, ${input.kind} [${input.route}; ${input.strategy}] ${what}`;
}

function breakRule(input: Input | string, rule: string, answer = ''): void {
  if (breaks.length < 200)
    breaks.push({
      input: typeof input === 'string' ? input : describe(input),
      rule,
      answer: answer.slice(0, 500),
    });
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether a JSON body has a `__proto__` key, or a `constructor` object with a `prototype` key. */
function forbiddenKeys(body: Buffer | undefined): boolean {
  let value: unknown;
  try {
    value = JSON.parse(body?.toString('utf8') ?? '');
  } catch {
    return false;
  }
  // Iterative, and no spread: bodies nest 20,000 levels deep and hold arrays of a million items.
  const stack = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Object.hasOwn(node, '__proto__')) return true;
    const ctor = (node as Json).constructor;
    if (Object.hasOwn(node, 'constructor') && isObject(ctor) && Object.hasOwn(ctor, 'prototype')) return true;
    for (const child of Object.values(node)) stack.push(child);
  }
  return false;
}

async function sendFetch(input: Input): Promise<void> {
  const url = new URL(h.url + input.path);
  const sent: Sent = {
    org: input.org,
    family: familyOf(url.pathname),
    path: url.pathname + url.search,
    method: input.method,
  };
  let res: Response;
  try {
    res = await fetch(url, {
      method: input.method,
      headers: input.headers,
      body: input.body,
      signal: AbortSignal.timeout(20_000),
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    return breakRule(input, `no answer: ${(error as Error).message} ${cause ? String(cause) : ''}`);
  }
  const answer: Answer = {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    body: Buffer.from(await res.arrayBuffer()),
  };
  tally(`${sent.family} ${answer.status}`);
  const text = answer.body.toString('utf8');
  const requestText = `${input.method} ${sent.path} ${decoded(sent.path)} ${json(input.headers)} ${input.body?.toString('utf8') ?? ''}`;
  const problems = check(sent, answer, requestText);
  // docs/errors.md: a JSON body with `__proto__` or `constructor.prototype` keys is refused.
  if (
    answer.status === 200 &&
    /^application\/json(;|$)/i.test(input.headers['content-type'] ?? '') &&
    forbiddenKeys(input.body)
  )
    problems.push('a JSON body with __proto__ or constructor.prototype keys was accepted');
  if (problems.length) breakRule(input, problems.join('; '), `${answer.status} ${text}`);
  account(sent, answer.status, answer.headers['idempotent-replayed'], text);
}

interface RawResponse extends Answer {
  headText: string;
}

/** The responses in what a socket received; `rest` is what could not be read as one. */
function parseResponses(data: Buffer, head = false): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const headText = data.subarray(at, end).toString('latin1');
    const [statusLine = '', ...lines] = headText.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine);
    if (!status) break;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let next = end + 4;
    let body: Buffer = Buffer.alloc(0);
    if (Number(status[1]) < 200 || (head && responses.length === 0)) {
      // An interim answer has no body; the answer to HEAD announces a length and sends none.
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (next + length > data.length) break;
      body = data.subarray(next, next + length);
      next += length;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', next);
        if (lineEnd < 0) return { responses, rest: data.subarray(at) };
        const size = parseInt(data.subarray(next, lineEnd).toString('latin1'), 16);
        next = lineEnd + 2 + size + 2;
        if (size === 0) break;
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
      }
      body = Buffer.concat(chunks);
    }
    at = next;
    if (Number(status[1]) >= 200) responses.push({ status: Number(status[1]), headers, body, headText });
  }
  return { responses, rest: data.subarray(at) };
}

interface Exchange {
  data: Buffer;
  closedBy: 'server' | 'client';
  ms: number;
}

/**
 * Writes `pieces` on a new connection (`gapMs` apart) and collects what comes back until the
 * server closes. `send`: once the expected answers are in, or after a second of silence, this side
 * half-closes (so the server sees the end of what was sent), and hangs up 2 s later. `end`:
 * half-closes at once. `destroy`: hangs up 50 ms after the last piece.
 */
function exchange(
  pieces: Buffer[],
  options: { mode: 'send' | 'destroy' | 'end'; responses: number; gapMs?: number; limitMs?: number },
): Promise<Exchange> {
  const began = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port(), '127.0.0.1');
    const received: Buffer[] = [];
    let closedBy: 'server' | 'client' = 'server';
    let timer: NodeJS.Timeout | undefined;
    const hangUp = (): void => {
      closedBy = 'client';
      socket.destroy();
    };
    const limit = setTimeout(hangUp, options.limitMs ?? 10_000);
    const waitQuietly = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        socket.end();
        timer = setTimeout(hangUp, 2_000);
      }, 1_000);
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (options.gapMs) return;
      if (parseResponses(Buffer.concat(received)).responses.length >= options.responses) socket.end();
      else waitQuietly();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(limit);
      resolve({ data: Buffer.concat(received), closedBy, ms: performance.now() - began });
    });
    const queue = [...pieces];
    const writeNext = (): void => {
      if (socket.destroyed) return;
      const piece = queue.shift();
      if (piece === undefined) {
        if (options.mode === 'destroy') timer = setTimeout(hangUp, 50);
        else if (options.mode === 'end') socket.end();
        else if (!options.gapMs) waitQuietly();
        return;
      }
      socket.write(piece);
      if (options.gapMs) timer = setTimeout(writeNext, options.gapMs);
      else writeNext();
    };
    socket.once('connect', writeNext);
  });
}

/** The method and path a raw request's first line names, when it can be read. */
function requestLine(bytes: Buffer): { method: string; path: string } | undefined {
  const line = /^(\S+) (\S+)/.exec(bytes.subarray(0, 30_000).toString('latin1'));
  if (!line) return undefined;
  // An absolute-form target (`GET http://host/path`) is routed, and answered, by its path.
  const origin = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i.exec(line[2]!);
  return { method: line[1]!, path: origin ? line[2]!.slice(origin[0].length) || '/' : line[2]! };
}

/** Whose valid credential a raw request carries (a flipped byte may have spoiled it: then 401). */
function orgOfRaw(text: string): Org | undefined {
  for (const [name, org] of [
    ['otherSource', 'other'],
    ['source', 'acme'],
    ['otherPlatform', 'other'],
    ['platform', 'acme'],
  ] as const)
    if (text.includes(`Authorization: ${credentials.get(name)!.header!}\r\n`)) return org;
  return undefined;
}

async function sendRaw(input: Input): Promise<void> {
  const raw = input.raw!;
  const { data } = await exchange([raw.bytes], { mode: raw.mode, responses: raw.responses });
  checkRaw(input, raw.bytes, data);
}

function checkRaw(input: Input, bytes: Buffer, data: Buffer): void {
  const line = requestLine(bytes);
  const { responses, rest } = parseResponses(data, line?.method === 'HEAD');
  if (rest.length > 0) breakRule(input, 'an answer that is not HTTP', rest.toString('latin1'));
  const requestText = bytes.toString('latin1');
  const path = line?.path ?? '/';
  const org = orgOfRaw(requestText);
  const first = responses[0];
  const refused = first === undefined || (first.body.length === 0 && !first.headers['content-type']);
  // A request whose answer never arrived (the raw client stopped reading first, on a busy
  // machine) may still have been stored: only a 200 promises, and nothing forbids the rest.
  if (refused && org && (path.startsWith('/fhir/') || line?.method === 'POST')) unanswered[org]++;
  for (const [i, answer] of responses.entries()) {
    tally(`raw ${answer.status}`);
    // Of pipelined requests only the first line is known; the others are health probes.
    const sent: Sent =
      i === 0
        ? { org, family: familyOf(path), path, method: line?.method ?? 'GET' }
        : { org, family: 'platform', path: '/healthz', method: 'GET' };
    const problems = check(sent, answer, `${requestText} ${decoded(path)}`);
    if (problems.length)
      breakRule(input, problems.join('; '), `${answer.headText}\r\n\r\n${answer.body.toString('utf8')}`);
    account(sent, answer.status, answer.headers['idempotent-replayed'], answer.body.toString('utf8'));
  }
}

/** Slow clients: headers byte by byte, bodies trickled, a silent connection, one slow but timely upload. */
async function slowClients(): Promise<string[]> {
  const token = `Authorization: ${credentials.get('source')!.header!}\r\n`;
  const valid = json({
    Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
    P: `${MARK.acme}-SLOW`,
  });
  const split = (text: string, size: number): Buffer[] => {
    const all = Buffer.from(text);
    return Array.from({ length: Math.ceil(all.length / size) }, (_, i) =>
      all.subarray(i * size, (i + 1) * size),
    );
  };
  const request = (path: string, length: number): string =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${token}Content-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;
  // Node checks the timeouts every second: a cut comes between the timeout and a second later.
  const headersCut = HEADERS_TIMEOUT_MS + 1_000 + 2_000;
  const requestCut = REQUEST_TIMEOUT_MS + 1_000 + 2_000;
  const cases: { name: string; pieces: Buffer[]; gapMs: number; within: number; served?: boolean }[] = [
    ...['/endpoint', '/platform/v1/logs', '/v2/auth/token', '/fhir/R4/acme/production/Patient/_search'].map(
      (path) => ({
        name: `headers byte by byte to ${path}`,
        pieces: split(`${request(path, 2)}{}`, 1),
        gapMs: 30,
        within: headersCut,
      }),
    ),
    ...['/endpoint', '/query', '/auth/authenticate', '/platform/v1/destinations/app/queue/pause'].map(
      (path) => ({
        name: `body trickled to ${path}`,
        pieces: [Buffer.from(request(path, valid.length)), ...split(valid, 1)],
        gapMs: 60,
        within: requestCut,
      }),
    ),
    { name: 'a connection that never sends a byte', pieces: [], gapMs: 30, within: headersCut },
    {
      name: 'a slow but timely upload',
      pieces: [...split(request('/endpoint', valid.length), 40), ...split(valid, 25)],
      gapMs: 30,
      within: REQUEST_TIMEOUT_MS,
      served: true,
    },
  ];
  return Promise.all(
    cases.map(async (c, i) => {
      const bytes = Buffer.concat(c.pieces);
      const input: Input = {
        index: FAST_INPUTS + i,
        kind: 'slow',
        route: 'slow client',
        strategy: c.name,
        method: 'POST',
        path: '',
        headers: {},
        raw: { bytes, mode: 'send', responses: 1 },
      };
      const { data, closedBy, ms } = await exchange(c.pieces, {
        mode: 'send',
        responses: 1,
        gapMs: c.gapMs,
        limitMs: 15_000,
      });
      const { responses } = parseResponses(data);
      const outcome = `${c.name}: ${responses.map((r) => r.status).join(',') || 'no answer'}, closed by the ${closedBy} after ${(ms / 1000).toFixed(1)} s`;
      if (c.served) {
        if (responses[0]?.status !== 200)
          breakRule(input, `a slow but timely client was not served: ${outcome}`);
      } else {
        if (closedBy !== 'server' || ms > c.within)
          breakRule(input, `not cut off within ${c.within} ms: ${outcome}`);
        for (const answer of responses)
          if (answer.status !== 408)
            breakRule(input, `answered ${answer.status} to a slow client`, answer.headText);
      }
      checkRaw(input, bytes, data);
      return outcome;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// After every batch: still serving, nothing polluted, the store as promised.

async function listLogs(key: string): Promise<{ id: string; messageId: number }[]> {
  const logs: { id: string; messageId: number }[] = [];
  let cursor: string | null = null;
  do {
    const res = await fetch(`${h.url}/platform/v1/logs?limit=500${cursor ? `&cursor=${cursor}` : ''}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const page = (await res.json()) as {
      logs: { id: string; messageId: number }[];
      nextCursor: string | null;
    };
    logs.push(...page.logs);
    cursor = page.nextCursor;
  } while (cursor);
  return logs;
}

async function verifyBatch(batch: string): Promise<void> {
  for (const probe of ['/healthz', '/readyz']) {
    const res = await fetch(h.url + probe);
    if (res.status !== 200) breakRule(batch, `${probe} answered ${res.status}`);
  }

  const now = prototypeSnapshot();
  for (const [key, value] of now)
    if (prototypesBefore.get(key) !== value) breakRule(batch, `${key} was changed or added`);
  for (const key of prototypesBefore.keys()) if (!now.has(key)) breakRule(batch, `${key} was removed`);
  const plain = {} as Record<string, unknown>;
  for (const canary of CANARIES)
    if (plain[canary] !== undefined) breakRule(batch, `({}).${canary} is ${String(plain[canary])}`);

  for (const [org, key] of [
    ['acme', PLATFORM_KEY],
    ['other', OTHER_PLATFORM_KEY],
  ] as const) {
    const want = expected[org];
    // Query logs are written with the next group commit, without being waited for.
    let logs = await listLogs(key);
    for (const deadline = Date.now() + 5_000; logs.length < want.logs && Date.now() < deadline;) {
      await settle(50);
      logs = await listLogs(key);
    }
    await settle(60);
    logs = await listLogs(key);
    const messages = new Set(logs.map((l) => l.messageId));
    const extra = logs.length - want.logs;
    if (extra < 0 || extra > unanswered[org] || messages.size - want.messages !== extra)
      breakRule(
        batch,
        `${org}: the store has ${messages.size} messages / ${logs.length} logs, the answers promised ` +
          `${want.messages} / ${want.logs} (and up to ${unanswered[org]} unanswered requests may have been stored)`,
      );
    const byMessage = new Map<number, Set<string>>();
    for (const log of logs)
      byMessage.set(log.messageId, (byMessage.get(log.messageId) ?? new Set()).add(log.id));
    for (const [messageId, ids] of want.tracked) {
      const stored = byMessage.get(messageId) ?? new Set();
      if (stored.size !== ids.size || [...ids].some((id) => !stored.has(id)))
        breakRule(
          batch,
          `${org}: message ${messageId} was answered with logs ${[...ids]}, the store has ${[...stored]}`,
        );
    }
  }
  // No message without its logs: invisible to the Platform API, so read beside the server.
  {
    const [row] = await h.storage.rows<{ messages: number; orphans: number }>(
      `SELECT (SELECT count(*) FROM messages) AS messages,
              (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM logs l WHERE l.message_id = m.id)) AS orphans`,
    );
    if (!row) throw new Error('no counts');
    const promised = expected.acme.messages + expected.other.messages;
    const slack = unanswered.acme + unanswered.other;
    if (Number(row.orphans) !== 0) breakRule(batch, `${row.orphans} messages are stored without logs`);
    if (Number(row.messages) < promised || Number(row.messages) > promised + slack)
      breakRule(
        batch,
        `${row.messages} messages in the database, ${promised} promised (+ up to ${slack} unanswered)`,
      );
  }
}

// ---------------------------------------------------------------------------------------------

test('fuzz: 2,000 hostile inputs over every inbound route break no rule', async (t) => {
  const began = performance.now();
  const swept = sweep();
  const slow = slowClients();
  const perBatch = Math.ceil(FAST_INPUTS / BATCHES);
  for (let b = 0; b < BATCHES; b++) {
    const first = b * perBatch;
    const last = Math.min(FAST_INPUTS, first + perBatch) - 1;
    let next = first;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next <= last) {
          const index = next++;
          let input: Input | undefined;
          try {
            // Every 8th input is malformed HTTP on a raw socket, the others go through fetch;
            // each kind starts with its sweep.
            const raws = Math.floor((index + 1) / 8);
            input =
              index % 8 === 7
                ? buildRaw(index, rngFor(index), raws - 1)
                : (swept[index - raws]?.(index) ?? buildFetch(index, rngFor(index)));
            await (input.kind === 'raw' ? sendRaw(input) : sendFetch(input));
          } catch (error) {
            breakRule(
              input ?? `#${index} of FUZZ_SEED=${SEED}`,
              `the test could not build or send it: ${(error as Error).stack}`,
            );
          }
        }
      }),
    );
    await verifyBatch(`after batch ${b + 1} (inputs #${first}-#${last} of FUZZ_SEED=${SEED})`);
  }
  const slowOutcomes = await slow;
  await verifyBatch(`after the slow clients (FUZZ_SEED=${SEED})`);

  const total = FAST_INPUTS + slowOutcomes.length;
  const broken = new Set(breaks.map((b) => b.input)).size;
  t.diagnostic(
    `seed ${SEED}, ${((performance.now() - began) / 1000).toFixed(1)} s; stored ` +
      `${expected.acme.messages + expected.other.messages} messages with ${expected.acme.logs + expected.other.logs} logs`,
  );
  t.diagnostic(
    `answers: ${[...statusCounts]
      .sort()
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`,
  );
  const raws = Math.floor(FAST_INPUTS / 8);
  t.diagnostic(
    `inputs: ${swept.length} from the sweep and ${FAST_INPUTS - raws - swept.length} random through fetch, ` +
      `${raws} on raw sockets (malformed, truncated, flipped), ${slowOutcomes.length} slow clients`,
  );
  for (const outcome of slowOutcomes) t.diagnostic(`slow client: ${outcome}`);
  t.diagnostic(`fuzz: ${total} hostile inputs tried over ${ROUTES.length} routes, ${broken} broke a rule`);
  for (const b of breaks.slice(0, 30))
    t.diagnostic(`BROKE: ${b.rule}\n    input: ${b.input}\n    answer: ${json(b.answer)}`);
  assert.equal(
    breaks.length,
    0,
    `${broken} inputs broke a rule; the first: ${breaks[0]?.rule} <- ${breaks[0]?.input}`,
  );
});
