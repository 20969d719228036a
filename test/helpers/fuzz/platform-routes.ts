// The Platform API and probe routes of the fuzz (routes.ts).
import { type Rng, seededLogs } from './context.ts';
import { randomJson, randomString } from './payloads.ts';
import type { RouteDef } from './routes.ts';
import { enc, json, ODD_IDS, ODD_QUERIES, POLLUTERS, WRONG_VALUES } from './values.ts';

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

export const CATALOG_ROUTES: RouteDef[] = [
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

export const LOG_SEARCH_ROUTES: RouteDef[] = [
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
];

export const LOG_ROUTES: RouteDef[] = [
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
];

export const QUEUE_ROUTES: RouteDef[] = [
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
];

export const VERIFY_ROUTE: RouteDef = {
  name: 'POST /platform/v1/destinations/{id}/verify',
  method: 'POST',
  usual: 'platform',
  build(rng, _org, hostile) {
    const id = hostile && rng.chance(0.5) ? rng.pick(ODD_IDS) : rng.pick(['app', 'app2', 'private', 'nope']);
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
};

export const PROBE_ROUTES: RouteDef[] = [
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
