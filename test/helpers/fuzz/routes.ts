// The inbound routes the fuzz covers, each with a builder of valid and hostile requests. The
// order of ROUTES decides which input goes to which route: keep it.
import { SECRET } from '../harness.ts';
import { type Org, type Rng, run } from './context.ts';
import { FHIR_REST_ROUTES, FHIR_SEARCH_ROUTES } from './fhir-routes.ts';
import { dmBody, randomJson, randomString } from './payloads.ts';
import {
  CATALOG_ROUTES,
  LOG_ROUTES,
  LOG_SEARCH_ROUTES,
  PROBE_ROUTES,
  QUEUE_ROUTES,
  VERIFY_ROUTE,
} from './platform-routes.ts';
import { enc, form, json, ODD_QUERIES, POLLUTERS, WRONG_VALUES } from './values.ts';

interface Built {
  path: string;
  body?: Buffer;
  type?: string;
  headers?: Record<string, string>;
  strategy: string;
}

export interface RouteDef {
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

const AUTH_AND_DM_ROUTES: RouteDef[] = [
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
          ? rng.pick([run.refreshToken, `${run.refreshToken.slice(0, -3)}abc`, 'a.b.c', ...WRONG_VALUES])
          : run.refreshToken,
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
];

const METADATA_ROUTE: RouteDef = {
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
};

export const ROUTES: RouteDef[] = [
  ...AUTH_AND_DM_ROUTES,
  ...FHIR_SEARCH_ROUTES,
  METADATA_ROUTE,
  ...LOG_SEARCH_ROUTES,
  ...FHIR_REST_ROUTES,
  ...LOG_ROUTES,
  ...QUEUE_ROUTES,
  VERIFY_ROUTE,
  ...CATALOG_ROUTES,
  ...PROBE_ROUTES,
];
