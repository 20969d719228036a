import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SECRET, patientAdmin, request, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';

/**
 * Payload validation against the Redox data model catalogue (SPEC 2.2), on /endpoint and
 * /query, with each source's policy: `strict` (the default) refuses with Redox's texts and
 * stores nothing, `warn` accepts and records the problems on the log, `off` checks nothing.
 */

let h: Harness;
let receiver: Receiver;
const tokens = new Map<string, string>();

before(async () => {
  receiver = await Receiver.start();
  receiver.respond = () => ({ status: 200, body: JSON.stringify({ Meta: {}, Documents: [] }) });
  h = await startHarness({
    destinations: [{ id: 'app', url: receiver.url }],
    extraSources: [
      {
        id: 'lenient',
        name: 'Lenient',
        environment: 'production',
        clientId: 'warn-client',
        clientSecret: SECRET,
        validation: 'warn',
      },
      {
        id: 'raw',
        name: 'Raw',
        environment: 'production',
        clientId: 'off-client',
        clientSecret: SECRET,
        validation: 'off',
      },
    ],
  });
  for (const client of ['ehr-client', 'warn-client', 'off-client']) tokens.set(client, await h.token(client));
});

after(async () => {
  await h.close();
  await receiver.close();
});

const post = (path: string, body: unknown, client = 'ehr-client') =>
  request(h.url, 'POST', path, {
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(client)!}` },
  });
const texts = (answer: { body: { Meta: { Errors: { Text: string }[] } } }) =>
  answer.body.Meta.Errors.map((e) => e.Text);
const stored = async () =>
  (await h.platform('GET', '/platform/v1/logs?limit=500')).body.logs.length as number;

test("strict: the contract's own example is a 400 in Redox's words, and nothing is stored", async () => {
  const before = await stored();
  const res = await post('/endpoint', { Meta: { DataModel: 'Device', EventType: 'New' } });
  assert.equal(res.status, 400);
  assert.deepEqual(texts(res), [
    'Required field missing - Device.ID in Device:New',
    'Required field missing - Observations in Device:New',
  ]);
  assert.equal(res.body.Meta.Errors[0].ID, 531803);
  assert.equal(res.body.Meta.Errors[0].Module, 'DataModels');
  assert.equal(res.body.Meta.DataModel, 'Device', 'Meta echoed');
  const typed = await post('/endpoint', {
    ...patientAdmin(1),
    Patient: { Identifiers: [{ ID: 7, IDType: 'MR' }], Demographics: { DOB: 19700101 } },
  });
  assert.deepEqual(texts(typed), [
    'Invalid value - Patient.Identifiers[0].ID in PatientAdmin:NewPatient',
    'Invalid value - Patient.Demographics.DOB in PatientAdmin:NewPatient',
  ]);
  const many = await post('/endpoint', {
    Meta: { DataModel: 'Provider', EventType: 'New' },
    Providers: Array.from({ length: 30 }, () => ({})),
  });
  assert.equal(texts(many).length, 20, 'at most 20 problems');
  assert.equal(await stored(), before);
});

test('an unknown data model is 404, an event type the model does not have is 400; names match loosely', async () => {
  assert.equal((await post('/endpoint', { Meta: { DataModel: 'Nope', EventType: 'New' } })).status, 404);
  const event = await post('/endpoint', {
    ...patientAdmin(2),
    Meta: { DataModel: 'PatientAdmin', EventType: 'Bogus' },
  });
  assert.equal(event.status, 400);
  assert.match(texts(event)[0]!, /Unknown event type - Bogus/);
  const spelled = await post('/endpoint', {
    ...patientAdmin(3),
    Meta: { DataModel: 'Patient Admin', EventType: 'new patient' },
  });
  assert.equal(spelled.status, 200);
  const extra = await post('/endpoint', { ...patientAdmin(4), Custom: { anything: [1, { x: null }] } });
  assert.equal(extra.status, 200, 'fields the catalogue does not know pass through');
  const detail = await h.platform('GET', `/platform/v1/logs/${extra.body.Meta.Logs[0].ID as string}`);
  assert.deepEqual(detail.body.payload.Custom, { anything: [1, { x: null }] });
});

test('/query is validated the same way, before anything is sent', async () => {
  await h.settled();
  const calls = receiver.received.length;
  const res = await post('/query', {
    Meta: { DataModel: 'ClinicalSummary', EventType: 'PatientQuery', Destinations: [{ ID: 'app' }] },
  });
  assert.equal(res.status, 400);
  assert.deepEqual(texts(res), [
    'Required field missing - Patient.Identifiers in ClinicalSummary:PatientQuery',
  ]);
  assert.equal(res.body.Meta.Errors[0].Type, 'query');
  assert.equal(receiver.received.length, calls, 'the destination was not called');
});

test('warn: accepted, and the problems are on the log; off: nothing is checked', async () => {
  const warned = await post('/endpoint', { Meta: { DataModel: 'Device', EventType: 'New' } }, 'warn-client');
  assert.equal(warned.status, 200);
  const detail = await h.platform('GET', `/platform/v1/logs/${warned.body.Meta.Logs[0].ID as string}`);
  assert.deepEqual(detail.body.validationProblems, [
    'Required field missing - Device.ID in Device:New',
    'Required field missing - Observations in Device:New',
  ]);
  const off = await post('/endpoint', { Meta: { DataModel: 'Device', EventType: 'Anything' } }, 'off-client');
  assert.equal(off.status, 200);
  const offDetail = await h.platform('GET', `/platform/v1/logs/${off.body.Meta.Logs[0].ID as string}`);
  assert.deepEqual(offDetail.body.validationProblems, []);
  // The policy is part of the source, through the API too.
  const source = await h.platform('GET', '/platform/v1/sources/lenient');
  assert.equal(source.body.validation, 'warn');
  assert.equal(
    (await h.platform('PATCH', '/platform/v1/sources/ehr', { validation: 'off' })).status,
    409,
    'the file decides for its own',
  );
});
