import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createStorage, type TestStorage } from '../helpers/storage.ts';
import {
  patientAdmin,
  request,
  startHarness,
  type Harness,
  type HarnessOptions,
} from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { SlowReceiver } from '../helpers/slow-receiver.ts';
import { waitFor } from '../helpers/wait.ts';

const ADMIN_KEY = 'admin-key-0123456789abcdef';

let storage: TestStorage;
let h: Harness;
let first: Receiver;
let second: Receiver;

const options = (): HarnessOptions => ({
  destinations: [{ id: 'app', url: first.url }],
  server: { adminKey: ADMIN_KEY },
  configFile: '/etc/switchboard/config.json',
  storage,
});

before(async () => {
  first = await Receiver.start();
  second = await Receiver.start();
  storage = await createStorage('control-plane');
  h = await startHarness(options());
});

after(async () => {
  await h.close();
  await storage.remove();
  await first.close();
  await second.close();
});

/** A token for a source by its client credentials. */
async function tokenFor(clientId: string, clientSecret: string): Promise<{ status: number; token?: string }> {
  const res = await request(h.url, 'POST', '/v2/auth/token', {
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
    }),
  });
  return { status: res.status, token: res.body.access_token as string | undefined };
}

test('sources: create answers the secret once; reads never show it; bad fields, duplicates and unknown ids', async () => {
  const created = await h.platform('POST', '/platform/v1/sources', {
    id: 'lab',
    name: 'Acme Lab',
    environment: 'production',
    clientId: 'lab-client',
  });
  assert.equal(created.status, 201);
  assert.equal(typeof created.body.clientSecret, 'string');
  assert.equal(created.body.clientSecretSet, true);
  assert.equal(created.body.managedBy, 'api');
  const read = await h.platform('GET', '/platform/v1/sources/lab');
  assert.equal(read.status, 200);
  assert.equal(read.body.clientSecret, undefined);
  assert.equal(read.body.secretHash, undefined);
  assert.equal(read.body.clientSecretSet, true);
  const list = await h.platform('GET', '/platform/v1/sources');
  assert.deepEqual(list.body.sources.map((s: { id: string }) => s.id).sort(), ['ehr', 'lab']);

  const bad = await h.platform('POST', '/platform/v1/sources', {
    id: 'x',
    name: 'X',
    environment: 'moon',
    clientId: 'x',
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /environment/);
  const duplicate = await h.platform('POST', '/platform/v1/sources', {
    id: 'lab',
    name: 'Again',
    environment: 'production',
    clientId: 'lab-2',
  });
  assert.equal(duplicate.status, 409);
  const takenClientId = await h.platform('POST', '/platform/v1/sources', {
    id: 'lab2',
    name: 'Again',
    environment: 'production',
    clientId: 'other-client',
  });
  assert.equal(takenClientId.status, 409, 'clientIds are unique across organizations');
  assert.equal((await h.platform('GET', '/platform/v1/sources/nope')).status, 404);
  assert.equal((await h.platform('PATCH', '/platform/v1/sources/nope', { name: 'x' })).status, 404);
  const renamed = await h.platform('PATCH', '/platform/v1/sources/lab', { name: 'Acme Laboratory' });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.name, 'Acme Laboratory');
  assert.equal((await h.platform('PATCH', '/platform/v1/sources/lab', { id: 'other' })).status, 400);
  assert.equal((await h.platform('PATCH', '/platform/v1/sources/lab', { unknown: 1 })).status, 400);

  // Rotation: the old secret stops working, the new one works, at once.
  const old = created.body.clientSecret as string;
  assert.equal((await tokenFor('lab-client', old)).status, 200);
  const rotated = await h.platform('POST', '/platform/v1/sources/lab/secret');
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.body.clientSecret, old);
  assert.equal((await tokenFor('lab-client', old)).status, 401);
  assert.equal((await tokenFor('lab-client', rotated.body.clientSecret as string)).status, 200);
});

test('a source, destination and subscription made through the API route messages at once; a URL change applies to the next', async () => {
  const source = await h.platform('POST', '/platform/v1/sources', {
    id: 'adt',
    name: 'ADT feed',
    environment: 'production',
    clientId: 'adt-client',
    clientSecret: 'adt-secret-0123456789',
  });
  assert.equal(source.status, 201);
  const destination = await h.platform('POST', '/platform/v1/destinations', {
    id: 'chart',
    name: 'Chart app',
    environment: 'production',
    url: first.url,
    signingSecret: 'whsec-0123456789abcdef',
  });
  assert.equal(destination.status, 201);
  assert.equal(destination.body.signingSecret, undefined);
  assert.equal(destination.body.signingSecretSet, true);
  const subscription = await h.platform('POST', '/platform/v1/subscriptions', {
    source: 'adt',
    dataModel: 'PatientAdmin',
    destination: 'chart',
  });
  assert.equal(subscription.status, 201);
  assert.match(subscription.body.id, /^sub_/);
  const unknown = await h.platform('POST', '/platform/v1/subscriptions', {
    source: 'ghost',
    dataModel: 'PatientAdmin',
    destination: 'chart',
  });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error.message, /source/);
  const badModel = await h.platform('POST', '/platform/v1/subscriptions', {
    source: 'adt',
    dataModel: 'Nonsense',
    destination: 'chart',
  });
  assert.equal(badModel.status, 400);
  assert.match(badModel.body.error.message, /dataModel/);
  assert.equal(
    (
      await h.platform('POST', '/platform/v1/subscriptions', {
        source: 'adt',
        dataModel: 'Patient Admin',
        destination: 'chart',
      })
    ).status,
    409,
    'the same route twice',
  );

  const { token } = await tokenFor('adt-client', 'adt-secret-0123456789');
  assert.ok(token);
  const before = first.received.length;
  const one = await h.send(patientAdmin(1), { token });
  assert.equal(one.status, 200);
  assert.deepEqual(
    one.body.Meta.Destinations.map((d: { ID: string }) => d.ID),
    ['chart'],
  );
  await waitFor(() => first.received.length === before + 1, 5_000, 'first message at the first URL');
  assert.ok(first.received.at(-1)!.headers['webhook-signature'], 'signed with the API-set secret');

  const patched = await h.platform('PATCH', '/platform/v1/destinations/chart', { url: second.url });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.url, second.url);
  await h.send(patientAdmin(2), { token });
  await waitFor(() => second.received.length === 1, 5_000, 'second message at the new URL');
  assert.equal(first.received.length, before + 1);

  // The subscription can be changed and removed; the source then routes nowhere.
  const id = subscription.body.id as string;
  const narrowed = await h.platform('PATCH', `/platform/v1/subscriptions/${id}`, { eventTypes: ['Arrival'] });
  assert.deepEqual(narrowed.body.eventTypes, ['Arrival']);
  const filtered = await h.send(patientAdmin(3), { token });
  assert.deepEqual(filtered.body.Meta.Destinations, []);
  assert.equal((await h.platform('DELETE', `/platform/v1/subscriptions/${id}`)).status, 200);
  assert.equal((await h.platform('GET', `/platform/v1/subscriptions/${id}`)).status, 404);
});

test('a URL changed during an attempt: the attempt in flight finishes where it went, the next goes to the new URL; a paused queue stays paused', async () => {
  const slow = await SlowReceiver.start(() => 400);
  try {
    await h.platform('POST', '/platform/v1/destinations', {
      id: 'slow',
      name: 'Slow',
      environment: 'production',
      url: slow.url,
    });
    await h.platform('POST', '/platform/v1/subscriptions', {
      id: 'to-slow',
      source: 'ehr',
      dataModel: 'PatientAdmin',
      destination: 'slow',
      eventTypes: ['Arrival'],
    });
    const arrival = (n: number) => ({
      ...patientAdmin(n),
      Meta: { ...(patientAdmin(n).Meta as object), EventType: 'Arrival' },
    });
    const firstLog = (await h.send(arrival(20))).body.Meta.Logs.at(-1).ID as string;
    await waitFor(() => slow.inFlight === 1, 5_000, 'an attempt in flight');
    const patched = await h.platform('PATCH', '/platform/v1/destinations/slow', { url: second.url });
    assert.equal(patched.status, 200);
    const secondBefore = second.received.length;
    const nextLog = (await h.send(arrival(21))).body.Meta.Logs.at(-1).ID as string;
    await waitFor(() => second.logIds().includes(nextLog), 5_000, 'the next log at the new URL');
    assert.equal(second.received.length, secondBefore + 1, 'the log in flight was not sent again');
    const detail = await h.platform('GET', `/platform/v1/logs/${firstLog}`);
    assert.equal(detail.body.status, 'succeeded');
    assert.equal(detail.body.attempts.length, 1);
    assert.equal(detail.body.attempts[0].requestUrl, slow.url);

    await h.platform('POST', '/platform/v1/destinations/slow/queue/pause', { reason: 'maintenance' });
    await h.platform('PATCH', '/platform/v1/destinations/slow', { name: 'Slow, renamed' });
    assert.equal((await h.platform('GET', '/platform/v1/destinations/slow/queue')).body.state, 'paused');
    await h.platform('POST', '/platform/v1/destinations/slow/queue/resume');
  } finally {
    await slow.close();
  }
});

test('deleting a destination with pending logs: 409, then ?force=true fails them with who and why', async () => {
  await h.platform('POST', '/platform/v1/destinations', {
    id: 'doomed',
    name: 'Doomed',
    environment: 'production',
    url: first.url,
  });
  await h.platform('POST', '/platform/v1/subscriptions', {
    id: 'to-doomed',
    source: 'ehr',
    dataModel: 'PatientAdmin',
    destination: 'doomed',
  });
  await h.platform('POST', '/platform/v1/destinations/doomed/queue/pause', { reason: 'hold' });
  const sent = await h.send(patientAdmin(4));
  assert.ok(sent.body.Meta.Destinations.some((d: { ID: string }) => d.ID === 'doomed'));
  const refused = await h.platform('DELETE', '/platform/v1/destinations/doomed');
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, /pending/);
  const forced = await h.platform('DELETE', '/platform/v1/destinations/doomed?force=true');
  assert.equal(forced.status, 200);
  assert.equal(forced.body.failedLogs, 1);
  assert.equal((await h.platform('GET', '/platform/v1/destinations/doomed')).status, 404);
  assert.equal((await h.platform('GET', '/platform/v1/subscriptions/to-doomed')).status, 404);
  const failed = await h.platform('GET', `/platform/v1/logs?destinationId=doomed&status=failed`);
  assert.equal(failed.body.logs.length, 1);
  assert.match(failed.body.logs[0].failedReason, /Destination deleted by config file key 1/);
});

test("the config file's entities are refused through the API, naming the file", async () => {
  const source = await h.platform('PATCH', '/platform/v1/sources/ehr', { name: 'Changed' });
  assert.equal(source.status, 409);
  assert.match(source.body.error.message, /config file \(\/etc\/switchboard\/config\.json\)/);
  assert.equal((await h.platform('DELETE', '/platform/v1/destinations/app')).status, 409);
  const keys = await h.platform('GET', '/platform/v1/platform-keys');
  const fileKey = keys.body['platform-keys'].find((k: { managedBy: string }) => k.managedBy === 'file');
  assert.equal((await h.platform('DELETE', `/platform/v1/platform-keys/${fileKey.id}`)).status, 409);
  assert.equal((await h.platform('GET', '/platform/v1/sources/ehr')).body.name, 'Acme EHR');
});

test('organizations: the admin key creates one with its first key; platform keys see only their own', async () => {
  const asKey = await h.platform('POST', '/platform/v1/organizations', { id: 'beta', name: 'Beta' });
  assert.equal(asKey.status, 403);
  const created = await h.platform(
    'POST',
    '/platform/v1/organizations',
    { id: 'beta', name: 'Beta Health', alertEmail: 'ops@beta.example' },
    ADMIN_KEY,
  );
  assert.equal(created.status, 201);
  assert.equal(created.body.organization.id, 'beta');
  const betaKey = created.body.platformKey as string;
  assert.equal(
    (await h.platform('POST', '/platform/v1/organizations', { id: 'beta', name: 'Again' }, ADMIN_KEY)).status,
    409,
  );
  assert.equal(
    (await h.platform('POST', '/platform/v1/organizations', { id: 'bad id!', name: 'x' }, ADMIN_KEY)).status,
    400,
  );
  // The new organization's key works at once and sees only its own.
  assert.deepEqual((await h.platform('GET', '/platform/v1/sources', undefined, betaKey)).body.sources, []);
  assert.deepEqual(
    (await h.platform('GET', '/platform/v1/organizations', undefined, betaKey)).body.organizations.map(
      (o: { id: string }) => o.id,
    ),
    ['beta'],
  );
  assert.equal((await h.platform('GET', '/platform/v1/organizations/acme', undefined, betaKey)).status, 404);
  const profile = await h.platform(
    'PATCH',
    '/platform/v1/organizations/beta',
    { alertWebhooks: ['https://hooks.example/beta'] },
    betaKey,
  );
  assert.equal(profile.status, 200);
  assert.deepEqual(profile.body.alertWebhooks, ['https://hooks.example/beta']);
  const all = await h.platform('GET', '/platform/v1/organizations', undefined, ADMIN_KEY);
  assert.deepEqual(all.body.organizations.map((o: { id: string }) => o.id).sort(), ['acme', 'beta', 'other']);

  // Keys: named, answered once, revoked at once.
  const added = await h.platform('POST', '/platform/v1/platform-keys', { name: 'dashboard' }, betaKey);
  assert.equal(added.status, 201);
  assert.equal(added.body.name, 'dashboard');
  assert.equal((await h.platform('GET', '/platform/v1/alerts', undefined, added.body.key)).status, 200);
  assert.equal(
    (await h.platform('DELETE', `/platform/v1/platform-keys/${added.body.id}`, undefined, betaKey)).status,
    200,
  );
  assert.equal((await h.platform('GET', '/platform/v1/alerts', undefined, added.body.key)).status, 401);
  const trail = await h.platform('GET', '/platform/v1/audit', undefined, betaKey);
  assert.deepEqual(
    trail.body.entries.map(
      (e: { actor: string; action: string; resource: string }) => `${e.actor} ${e.action} ${e.resource}`,
    ),
    [
      'first key delete platform-key',
      'first key create platform-key',
      'first key update organization',
      'admin create organization',
    ],
  );
  assert.equal(
    (await h.platform('DELETE', '/platform/v1/organizations/beta', undefined, betaKey)).status,
    403,
  );
  assert.equal(
    (await h.platform('DELETE', '/platform/v1/organizations/beta', undefined, ADMIN_KEY)).status,
    200,
  );
  assert.equal((await h.platform('GET', '/platform/v1/sources', undefined, betaKey)).status, 401);
});

test('the audit trail: who, when, what changed, secrets as "***", cursor-paged', async () => {
  const page = await h.platform('GET', '/platform/v1/audit?limit=2');
  assert.equal(page.status, 200);
  assert.equal(page.body.entries.length, 2);
  assert.ok(page.body.nextCursor);
  const all: {
    action: string;
    resource: string;
    resourceId: string;
    actor: string;
    changes: Record<string, unknown>;
    at: string;
  }[] = [];
  for (let cursor: string | null = ''; cursor !== null;) {
    const res = await h.platform('GET', `/platform/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...res.body.entries);
    cursor = res.body.nextCursor;
  }
  const rotation = all.find((e) => e.action === 'rotate-secret');
  assert.deepEqual(rotation?.changes, { clientSecret: '***' });
  assert.equal(rotation?.actor, 'config file key 1');
  const adt = all.find((e) => e.action === 'create' && e.resourceId === 'adt');
  assert.equal(adt?.changes.clientSecret, '***');
  const chart = all.find((e) => e.action === 'create' && e.resourceId === 'chart');
  assert.equal(chart?.changes.signingSecret, '***');
  const patch = all.find((e) => e.action === 'update' && e.resourceId === 'chart');
  assert.deepEqual(patch?.changes, { url: second.url });
  assert.ok(all.some((e) => e.action === 'pause' && e.resource === 'queue' && e.resourceId === 'doomed'));
  assert.ok(!Number.isNaN(Date.parse(all[0]!.at)));
  assert.ok(!JSON.stringify(all).includes('adt-secret-0123456789'), 'no secret in the trail');
});

test('a restart keeps what the API made', async () => {
  await h.close();
  h = await startHarness(options());
  assert.equal((await h.platform('GET', '/platform/v1/destinations/chart')).body.url, second.url);
  assert.equal((await h.platform('GET', '/platform/v1/sources/adt')).status, 200);
  assert.equal((await tokenFor('adt-client', 'adt-secret-0123456789')).status, 200);
  assert.equal((await h.platform('GET', '/platform/v1/sources/ehr')).body.managedBy, 'file');
});
