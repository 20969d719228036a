import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Client } from 'fhir-kit-client';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A common FHIR client, fhir-kit-client, with its defaults against Switchboard's FHIR API
 * (SPEC 2.3): the standard search `GET {type}?params`, read, create, update, the
 * CapabilityStatement and `operation('process-message')`. Writes go through to the destination's
 * FHIR base as sent, and its errors come back as an OperationOutcome with its status.
 */

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
let client: InstanceType<typeof Client>;

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
      if (req.method === 'GET' && url.pathname === '/fhir/Patient')
        return send(200, {
          resourceType: 'Bundle',
          type: 'searchset',
          total: 1,
          entry: [{ resource: { resourceType: 'Patient', id: '123' } }],
        });
      if (req.method === 'GET' && url.pathname === '/fhir/Patient/123')
        return send(200, { resourceType: 'Patient', id: '123', name: [{ family: 'Smith' }] });
      if (req.method === 'POST' && url.pathname === '/fhir/Patient')
        return send(201, { ...(JSON.parse(body) as object), id: 'new-1' });
      if (req.method === 'PUT' && url.pathname === '/fhir/Patient/123') return send(200, JSON.parse(body));
      if (req.method === 'POST' && url.pathname === '/fhir/messages') return send(200, {});
      if (req.method === 'PUT')
        return send(422, {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'processing', diagnostics: 'Version conflict' }],
        });
      send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    });
  });
  await new Promise<void>((resolve) => fhir.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(fhir.address() as AddressInfo).port}/fhir`;
  h = await startHarness({ destinations: [{ id: 'ehr-fhir', url: `${base}/messages`, fhirBaseUrl: base }] });
  client = new Client({ baseUrl: `${h.url}/fhir/R4/acme/production`, bearerToken: await h.token() });
});

after(async () => {
  await h.close();
  await new Promise((resolve) => fhir.close(resolve));
});

test('search with its default GET {type}?params, and read', async () => {
  const bundle = (await client.search({ resourceType: 'Patient', searchParams: { family: 'Smith' } })) as {
    resourceType: string;
    total: number;
  };
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.total, 1);
  assert.equal(seen.at(-1)?.url, '/fhir/Patient?family=Smith');
  const patient = (await client.read({ resourceType: 'Patient', id: '123' })) as unknown as { id: string };
  assert.equal(patient.id, '123');
});

test('create and update are written through to the destination as sent', async () => {
  const created = (await client.create({
    resourceType: 'Patient',
    body: {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:mrn', value: 'MRN-FHIR-1' }],
      name: [{ family: 'Lovelace' }],
    },
  })) as unknown as { id: string };
  assert.equal(created.id, 'new-1');
  const write = seen.at(-1)!;
  assert.equal(write.method, 'POST');
  assert.equal(write.url, '/fhir/Patient');
  assert.equal(write.contentType, 'application/fhir+json');
  assert.deepEqual(JSON.parse(write.body).name, [{ family: 'Lovelace' }]);
  const updated = (await client.update({
    resourceType: 'Patient',
    id: '123',
    body: { resourceType: 'Patient', id: '123', name: [{ family: 'Smith-Jones' }] },
  })) as unknown as { name: { family: string }[] };
  assert.equal(updated.name[0]!.family, 'Smith-Jones');
  assert.equal(seen.at(-1)?.method, 'PUT');
  // The write is logged like a query, findable by the identifier it carried.
  // Query logs are written with the next group commit, after the answer.
  const logs = await waitFor(
    async () => {
      const found = await h.platform('GET', '/platform/v1/logs?q=MRN-FHIR-1');
      return found.body.logs.length === 1 ? found : undefined;
    },
    5_000,
    'the create logged',
  );
  assert.equal(logs?.body.logs[0].eventType, 'Patient.create');
});

test("the destination's refusal comes back as an OperationOutcome with its status; bad bodies are 400", async () => {
  await assert.rejects(
    client.update({ resourceType: 'Patient', id: '999', body: { resourceType: 'Patient', id: '999' } }),
    (error: {
      response?: { status: number; data: { resourceType: string; issue: { diagnostics?: string }[] } };
    }) => {
      assert.equal(error.response?.status, 422);
      assert.equal(error.response?.data.resourceType, 'OperationOutcome');
      assert.equal(error.response?.data.issue[0]?.diagnostics, 'Version conflict');
      return true;
    },
  );
  const token = await h.token();
  const wrong = await fetch(`${h.url}/fhir/R4/acme/production/Patient`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Observation' }),
  });
  assert.equal(wrong.status, 400);
  assert.equal(((await wrong.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  const mismatch = await fetch(`${h.url}/fhir/R4/acme/production/Patient/123`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ resourceType: 'Patient', id: '456' }),
  });
  assert.equal(mismatch.status, 400);
});

test("capabilityStatement: Switchboard's own, R4, with the token endpoint", async () => {
  const statement = (await client.capabilityStatement()) as {
    resourceType: string;
    fhirVersion: string;
    rest: { resource: { type: string; interaction: { code: string }[] }[]; security: unknown }[];
  };
  assert.equal(statement.resourceType, 'CapabilityStatement');
  assert.equal(statement.fhirVersion, '4.0.1');
  const patient = statement.rest[0]!.resource.find((r) => r.type === 'Patient');
  assert.deepEqual(
    patient?.interaction.map((i) => i.code),
    ['read', 'search-type', 'create', 'update'],
  );
  assert.match(JSON.stringify(statement.rest[0]!.security), /\/v2\/auth\/token/);
  assert.match(JSON.stringify(statement.rest[0]), /process-message/);
});

test("operation('process-message'): the message is accepted and delivered", async () => {
  const message = {
    resourceType: 'Bundle',
    type: 'message',
    entry: [
      {
        resource: {
          resourceType: 'MessageHeader',
          eventCoding: { system: 'urn:events', code: 'admit' },
          destination: [{ endpoint: 'ehr-fhir' }],
          source: { endpoint: 'urn:ehr' },
        },
      },
    ],
  };
  const outcome = (await client.operation({
    name: 'process-message',
    resourceType: 'Bundle',
    method: 'POST',
    input: message,
  })) as unknown as { resourceType: string; issue: { severity: string }[] };
  assert.equal(outcome.resourceType, 'OperationOutcome');
  assert.equal(outcome.issue[0]?.severity, 'information');
  await waitFor(() => seen.some((s) => s.url === '/fhir/messages'), 5_000, 'the message delivered');
  const delivered = seen.find((s) => s.url === '/fhir/messages')!;
  assert.equal(delivered.contentType, 'application/fhir+json');
  assert.equal(JSON.parse(delivered.body).type, 'message');
});
