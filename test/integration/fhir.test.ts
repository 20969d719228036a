import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { streamAnswer, within, type Streamed } from '../helpers/query-stream.ts';
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
/** What the FHIR server saw of each large answer it streamed, in order. */
const streams: Promise<Streamed>[] = [];
/** Requests the FHIR server never answered whose caller hung up. */
let aborted = 0;
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
      if (url.pathname === '/fhir/Patient/hang')
        return void res.on('close', () => {
          if (!res.writableFinished) aborted++;
        });
      if (url.pathname === '/fhir/Patient/huge')
        return void streams.push(
          streamAnswer(res, { totalBytes: 50 * 1024 * 1024, contentType: 'application/fhir+json' }),
        );
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
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  h = await startHarness({
    destinations: [
      { id: 'ehr-fhir', url: `${base}/unused`, fhirBaseUrl: base },
      { id: 'fhir-down', url: `${base}/unused`, fhirBaseUrl: `http://127.0.0.1:${closedPort}/fhir` },
      { id: 'fhir-slow', url: `${base}/unused`, fhirBaseUrl: base, queryTimeoutMs: 300 },
    ],
    // The source's one subscribed FHIR destination is the default; the others are named by header.
    subscribed: ['ehr-fhir'],
    server: { payloadLimitBytes: 1024 * 1024 },
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
  init: { body?: string; contentType?: string; token?: string; destination?: string } = {},
) {
  const token = init.token ?? (await h.token());
  const res = await fetch(`${h.url}${path}`, {
    method,
    body: init.body,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/fhir+json',
      ...(init.contentType ? { 'content-type': init.contentType } : {}),
      ...(init.destination ? { 'x-switchboard-destination': init.destination } : {}),
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

/** The detail of the newest log matching `filter` (Platform API search parameters). */
async function newestLog(filter: string) {
  const logs = await waitFor(
    async () => {
      const res = await h.platform('GET', `/platform/v1/logs?dataModel=FHIR&${filter}`);
      return res.body.logs.length > 0 ? res.body.logs : undefined;
    },
    5_000,
    `a log with ${filter}`,
  );
  return (await h.platform('GET', `/platform/v1/logs/${logs[0].id}`)).body;
}

test('the log of a FHIR query holds the request sent and the duration of its attempt', async () => {
  const form = 'family=Logcheck&given=Ann&_count=3';
  const res = await call('POST', `${PREFIX}/Patient/_search`, {
    body: form,
    contentType: 'application/x-www-form-urlencoded',
  });
  assert.equal(res.status, 200);
  const log = await newestLog('eventType=Patient.search&q=Logcheck');
  assert.equal(log.type, 'request');
  assert.equal(log.status, 'succeeded');
  assert.deepEqual(log.payload, { method: 'POST', url: `${base}/Patient/_search`, body: form });
  assert.equal(log.attempts.length, 1);
  assert.equal(log.attempts[0].requestUrl, `${base}/Patient/_search`);
  assert.ok(
    Number.isInteger(log.attempts[0].durationMs) && log.attempts[0].durationMs >= 0,
    `durationMs ${log.attempts[0].durationMs}`,
  );
});

test('destination down: 502 OperationOutcome', async () => {
  const res = await call('GET', `${PREFIX}/Patient/123`, { destination: 'fhir-down' });
  assert.equal(res.status, 502);
  assert.match(res.type ?? '', /^application\/fhir\+json/);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].severity, 'error');
  assert.equal(res.body.issue[0].code, 'transient');
  assert.match(res.body.issue[0].details.text, /could not be reached/);
  assert.match(res.body.issue[0].diagnostics, /ECONNREFUSED/);
  const log = await newestLog('status=failed&destinationId=fhir-down');
  assert.match(log.attempts[0].error, /ECONNREFUSED/);
  assert.equal(log.attempts[0].statusCode, null);
});

test('destination slower than its timeout: 504 OperationOutcome in time, the call aborted, the log says so', async () => {
  const before = aborted;
  const started = Date.now();
  const res = await call('GET', `${PREFIX}/Patient/hang`, { destination: 'fhir-slow' });
  const took = Date.now() - started;
  assert.equal(res.status, 504);
  assert.ok(took >= 250 && took < 2_000, `answered after ${took} ms with a 300 ms timeout`);
  assert.match(res.type ?? '', /^application\/fhir\+json/);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].severity, 'error');
  assert.equal(res.body.issue[0].code, 'timeout');
  assert.match(res.body.issue[0].details.text, /did not answer in time/);
  await waitFor(() => aborted > before, 3_000, 'the destination request aborted');
  const log = await newestLog('status=failed&destinationId=fhir-slow');
  assert.match(log.attempts[0].error, /Timed out after 300 ms/);
  const { durationMs } = log.attempts[0];
  assert.ok(
    typeof durationMs === 'number' && durationMs >= 250 && durationMs <= took,
    `durationMs ${durationMs}`,
  );
});

test('an answer over the payload limit: 502 OperationOutcome, the destination cut off early', async () => {
  const count = streams.length;
  const res = await call('GET', `${PREFIX}/Patient/huge`);
  assert.equal(res.status, 502);
  assert.match(res.type ?? '', /^application\/fhir\+json/);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].severity, 'error');
  assert.equal(res.body.issue[0].code, 'too-long');
  assert.match(res.body.issue[0].details.text, /over the payload limit/);
  assert.equal(streams.length, count + 1);
  const streamed = await within(streams[count]!, 5_000, 'the destination connection to close');
  assert.equal(streamed.finished, false, 'the connection was closed before the body ended');
  assert.ok(
    streamed.written < 20 * 1024 * 1024,
    `the destination wrote ${streamed.written} bytes of 50 MB before it was cut off`,
  );
});
