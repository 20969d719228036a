import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

let fhir: Server;
let base: string;
const seen: Seen[] = [];
let h: Harness;

before(async () => {
  fhir = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body,
      });
      const send = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(value));
      };
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.has('bogus'))
        return send(400, {
          resourceType: 'OperationOutcome',
          issue: [
            { severity: 'error', code: 'not-supported', diagnostics: 'Unknown search parameter "bogus"' },
          ],
        });
      if (url.pathname === '/fhir/Patient/123')
        return send(200, { resourceType: 'Patient', id: '123', name: [{ family: 'Smith' }] });
      if (url.pathname === '/fhir/Patient/404')
        return send(404, {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'not-found', diagnostics: 'Patient/404 is not known' }],
        });
      if (url.pathname === '/fhir/Patient' || url.pathname === '/fhir/Patient/_search')
        return send(200, {
          resourceType: 'Bundle',
          type: 'searchset',
          total: 1,
          entry: [{ resource: { id: '123' } }],
        });
      res.writeHead(500).end('boom');
    });
  });
  await new Promise<void>((resolve) => fhir.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(fhir.address() as AddressInfo).port}/fhir`;
  h = await startHarness({
    destinations: [{ id: 'ehr-fhir', url: `${base}/unused`, fhirBaseUrl: base }],
    subscribed: [],
  });
});

after(async () => {
  await h.close();
  fhir.closeAllConnections();
  fhir.close();
});

async function call(
  method: string,
  path: string,
  init: { body?: string; contentType?: string; token?: string } = {},
) {
  const token = init.token ?? (await h.token());
  const res = await fetch(`${h.url}${path}`, {
    method,
    body: init.body,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/fhir+json',
      ...(init.contentType ? { 'content-type': init.contentType } : {}),
    },
  });
  return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(await res.text()) };
}

const PREFIX = '/fhir/R4/acme/production';

test('GET _search: parameters pass through exactly; the Bundle comes back', async () => {
  const query =
    'family=Smith&birthdate=ge1970-01-01&_count=10&identifier=urn%3Aoid%3A1.2%7C123&name:exact=Tim';
  const res = await call('GET', `${PREFIX}/Patient/_search?${query}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.resourceType, 'Bundle');
  const last = seen.at(-1)!;
  assert.equal(last.method, 'GET');
  assert.equal(last.url, `/fhir/Patient?${query}`);
});

test('POST _search: the form body passes through exactly', async () => {
  const form = 'family=Smith&given=Tim%20Joe&_count=5';
  const res = await call('POST', `${PREFIX}/Patient/_search`, {
    body: form,
    contentType: 'application/x-www-form-urlencoded',
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.resourceType, 'Bundle');
  const last = seen.at(-1)!;
  assert.equal(last.method, 'POST');
  assert.equal(last.url, '/fhir/Patient/_search');
  assert.equal(last.body, form);
  assert.equal(last.contentType, 'application/x-www-form-urlencoded');
});

test('POST _search with a JSON body: 400 OperationOutcome naming the form encoding, nothing forwarded', async () => {
  const before = seen.length;
  const res = await call('POST', `${PREFIX}/Patient/_search`, {
    body: '{"family":"Smith"}',
    contentType: 'application/fhir+json',
  });
  assert.equal(res.status, 400);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.match(JSON.stringify(res.body.issue), /application\/x-www-form-urlencoded/);
  assert.equal(seen.length, before);
});

test('read: the resource comes back', async () => {
  const res = await call('GET', `${PREFIX}/Patient/123`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { resourceType: 'Patient', id: '123', name: [{ family: 'Smith' }] });
});

test("the destination's OperationOutcome comes back, with its status", async () => {
  const res = await call('GET', `${PREFIX}/Patient/_search?bogus=1`);
  assert.equal(res.status, 400);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].diagnostics, 'Unknown search parameter "bogus"');
  assert.ok(res.body.extension.some((e: { valueInteger: number }) => e.valueInteger === 400));
  const missing = await call('GET', `${PREFIX}/Patient/404`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.issue[0].code, 'not-found');
});

test('a destination error that is not FHIR becomes an OperationOutcome with its text', async () => {
  const res = await call('GET', `${PREFIX}/Observation/_search?code=1234`);
  assert.equal(res.status, 500);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].diagnostics, 'boom');
});

test('unknown resource type: 404 OperationOutcome, nothing forwarded', async () => {
  const count = seen.length;
  const res = await call('GET', `${PREFIX}/Pateint/_search?family=Smith`);
  assert.equal(res.status, 404);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].code, 'not-found');
  assert.match(res.body.issue[0].details.text, /Unknown FHIR resource type - Pateint/);
  assert.equal(seen.length, count);
});

test("organization and environment in the path must be the token's: 404 otherwise", async () => {
  const count = seen.length;
  for (const path of ['/fhir/R4/other/production/Patient/123', '/fhir/R4/acme/staging/Patient/123']) {
    const res = await call('GET', path);
    assert.equal(res.status, 404, path);
    assert.equal(res.body.resourceType, 'OperationOutcome');
  }
  assert.equal(seen.length, count);
});

test('errors are OperationOutcomes: no token, bad id, unknown path', async () => {
  const anonymous = await fetch(`${h.url}${PREFIX}/Patient/123`);
  assert.equal(anonymous.status, 401);
  const body = (await anonymous.json()) as { resourceType: string; issue: { code: string }[] };
  assert.equal(body.resourceType, 'OperationOutcome');
  assert.equal(body.issue[0]!.code, 'login');
  const badId = await call('GET', `${PREFIX}/Patient/${'x'.repeat(65)}`);
  assert.equal(badId.status, 400);
  assert.equal(badId.body.resourceType, 'OperationOutcome');
  const unknown = await call('DELETE', `${PREFIX}/Patient/123`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.resourceType, 'OperationOutcome');
});

test('every FHIR query is a log with its attempt', async () => {
  await call('GET', `${PREFIX}/Patient/123`);
  const logs = await waitFor(async () => {
    const res = await h.platform(
      'GET',
      '/platform/v1/logs?dataModel=FHIR&eventType=Patient.read&status=succeeded',
    );
    return res.body.logs.length > 0 ? res.body.logs : undefined;
  });
  const detail = await h.platform('GET', `/platform/v1/logs/${logs[0].id}`);
  assert.equal(detail.body.type, 'request');
  assert.equal(detail.body.attempts[0].statusCode, 200);
  assert.equal(detail.body.attempts[0].requestUrl, `${base}/Patient/123`);
  // Query logs are committed lazily (within 50 ms): wait for them rather than race them.
  await waitFor(
    async () =>
      (await h.platform('GET', '/platform/v1/logs?dataModel=FHIR&status=failed')).body.logs.length >= 2,
    5_000,
    'destination errors recorded as failed logs',
  );
});
