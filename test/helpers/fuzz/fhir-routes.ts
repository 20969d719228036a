// The FHIR routes of the fuzz (routes.ts): searches and reads, then create, update and metadata.
import { randomBytes } from 'node:crypto';
import { MB } from './context.ts';
import { randomJson, randomString } from './payloads.ts';
import type { RouteDef } from './routes.ts';
import { enc, form, json, ODD_IDS, ODD_QUERIES, POLLUTERS } from './values.ts';

export const FHIR_SEARCH_ROUTES: RouteDef[] = [
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
];

export const FHIR_REST_ROUTES: RouteDef[] = [
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
];
