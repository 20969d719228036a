import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * FHIR messaging (SPEC 2.3 `$process-message`): a message Bundle is stored and delivered through
 * the same durable per-destination queue as `/endpoint`, routed by subscriptions with
 * `fhirEvents` or by the MessageHeader's destinations, and the destination receives it as sent.
 */

const EVENT = 'http://example.org/fhir/message-events';
let h: Harness;
let app: Receiver;
let lab: Receiver;
const failOnce = new Set<string>();

before(async () => {
  app = await Receiver.start();
  lab = await Receiver.start();
  lab.respond = (r) => {
    const id = String(r.headers['x-switchboard-log-id']);
    if (failOnce.delete(id)) return 500;
    return 200;
  };
  h = await startHarness({
    destinations: [
      { id: 'app', url: app.url },
      { id: 'lab', url: lab.url },
    ],
    subscribed: ['app'],
    extraSubscriptions: [{ fhirEvents: [`${EVENT}|admit-notification`], destination: 'lab' }],
  });
});

after(async () => {
  await h.close();
  await app.close();
  await lab.close();
});

const PATH = '/fhir/R4/acme/production/Bundle/$process-message';

function bundle(n: number, header: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'message',
    entry: [
      {
        fullUrl: `urn:uuid:h-${n}`,
        resource: {
          resourceType: 'MessageHeader',
          eventCoding: { system: EVENT, code: 'admit-notification' },
          source: { endpoint: 'urn:ehr' },
          ...header,
        },
      },
      {
        fullUrl: `urn:uuid:p-${n}`,
        resource: { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: `FHIR-MRN-${n}` }] },
      },
    ],
  };
}

async function post(body: unknown, headers: Record<string, string> = {}) {
  return request(h.url, 'POST', PATH, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: {
      'content-type': 'application/fhir+json',
      authorization: `Bearer ${await h.token()}`,
      ...headers,
    },
  });
}

const logIdsOf = (outcome: { issue: { diagnostics: string }[] }): string[] =>
  outcome.issue[0]!.diagnostics.split(',');

test('routed by fhirEvents, answered with an informational OperationOutcome, delivered as sent and in order, retried like any message', async () => {
  const texts = [bundle(1), bundle(2), bundle(3)].map((b) => JSON.stringify(b, null, 1));
  const first = await post(texts[0]!);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'application/fhir+json; charset=utf-8');
  assert.equal(first.body.resourceType, 'OperationOutcome');
  assert.equal(first.body.issue[0].severity, 'information');
  const [firstLog] = logIdsOf(first.body);
  failOnce.add(firstLog!);
  const rest = [await post(texts[1]!), await post(texts[2]!)];
  const ids = [firstLog!, ...rest.map((r) => logIdsOf(r.body)[0]!)];
  await waitFor(
    () => lab.logIds().length === 3 && lab.received.length === 4,
    5_000,
    'three messages, one retried',
  );
  assert.deepEqual(lab.logIds(), ids, 'in order, the failed one first and again before the others');
  assert.deepEqual(
    lab.received.map((r) => r.body),
    [texts[0], texts[0], texts[1], texts[2]],
    'the Bundle as sent, byte for byte',
  );
  assert.equal(lab.received[0]!.headers['content-type'], 'application/fhir+json');
  assert.equal(app.received.length, 0, 'a PatientAdmin subscription does not take FHIR messages');
  const detail = await h.platform('GET', `/platform/v1/logs/${firstLog!}`);
  assert.equal(detail.body.status, 'succeeded');
  assert.equal(detail.body.attemptCount, 2);
  assert.equal(detail.body.dataModel, 'FHIR');
  const found = await h.platform('GET', '/platform/v1/logs?q=FHIR-MRN-2');
  assert.deepEqual(
    found.body.logs.map((l: { id: string }) => l.id),
    [ids[1]],
  );
});

test("MessageHeader.destination names destinations; one that is not the organization's is 404", async () => {
  const named = await post(bundle(4, { destination: [{ endpoint: 'app' }] }));
  assert.equal(named.status, 200);
  await waitFor(() => app.received.length === 1, 5_000, 'to the named destination');
  assert.equal(app.received[0]!.json.resourceType, 'Bundle');
  const unknown = await post(bundle(5, { destination: [{ endpoint: 'nope' }] }));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.resourceType, 'OperationOutcome');
});

test('a Bundle that is not a message is 400 naming the element, and nothing is stored', async () => {
  const before = (await h.platform('GET', '/platform/v1/logs?limit=500')).body.logs.length;
  const cases: [unknown, string][] = [
    [{ resourceType: 'Patient' }, 'Bundle.resourceType'],
    [{ ...bundle(6), type: 'document' }, 'Bundle.type'],
    [
      { resourceType: 'Bundle', type: 'message', entry: [{ resource: { resourceType: 'Patient' } }] },
      'Bundle.entry[0].resource',
    ],
    [{ resourceType: 'Bundle', type: 'message' }, 'Bundle.entry[0].resource'],
    [
      {
        resourceType: 'Bundle',
        type: 'message',
        entry: [{ resource: { resourceType: 'MessageHeader', source: {} } }],
      },
      'Bundle.entry[0].resource.event[x]',
    ],
  ];
  for (const [body, expression] of cases) {
    const res = await post(body);
    assert.equal(res.status, 400, expression);
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.ok(
      res.body.issue.some((i: { expression?: string[] }) => i.expression?.includes(expression)),
      `${expression}: ${JSON.stringify(res.body.issue)}`,
    );
  }
  // R4 itself: a bad date, an element R4 does not have, a value of the wrong type.
  const invalid = bundle(9);
  (invalid.entry as { resource: Record<string, unknown> }[])[1]!.resource = {
    resourceType: 'Patient',
    birthDate: '1970-13-45',
    nickname: 'Ada',
    identifier: [{ value: 42 }],
  };
  const r4 = await post(invalid);
  assert.equal(r4.status, 400);
  const expressions = r4.body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? []);
  for (const path of [
    'Bundle.entry[1].resource.birthDate',
    'Bundle.entry[1].resource.nickname',
    'Bundle.entry[1].resource.identifier[0].value',
  ])
    assert.ok(expressions.includes(path), `${path} in ${JSON.stringify(expressions)}`);
  const noSource = bundle(10);
  delete ((noSource.entry as { resource: Record<string, unknown> }[])[0]!.resource as Record<string, unknown>)
    .source;
  const missing = await post(noSource);
  assert.equal(missing.status, 400, 'MessageHeader.source is required in R4');
  assert.equal((await post('{"resourceType":')).status, 400);
  assert.equal((await h.platform('GET', '/platform/v1/logs?limit=500')).body.logs.length, before);
});

test('an Idempotency-Key repeated answers the first OperationOutcome and stores nothing new', async () => {
  const first = await post(bundle(7), { 'idempotency-key': 'fhir-7' });
  const again = await post(bundle(7), { 'idempotency-key': 'fhir-7' });
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(again.body, first.body);
  const conflict = await post(bundle(8), { 'idempotency-key': 'fhir-7' });
  assert.equal(conflict.status, 409);
});
