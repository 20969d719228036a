import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

let h: Harness;
let receiver: Receiver;

before(async () => {
  receiver = await Receiver.start();
  h = await startHarness({ destinations: [{ id: 'app', url: receiver.url }] });
});

after(async () => {
  await h.close();
  await receiver.close();
});

const withKey = (key: string) => ({ headers: { 'idempotency-key': key } });

async function messageCount(): Promise<number> {
  const res = await h.platform('GET', '/platform/v1/logs?limit=500');
  return new Set(res.body.logs.map((l: { messageId: number }) => l.messageId)).size;
}

const ONE = patientAdmin(1);
const THREE = patientAdmin(3);

test('a repeated key returns the first answer and enqueues nothing new', async () => {
  const first = await h.send(ONE, withKey('order-0001'));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('idempotent-replayed'), 'false');
  const again = await h.send(ONE, withKey('order-0001'));
  assert.equal(again.status, 200);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(again.body, first.body);
  await waitFor(() => receiver.received.length === 1);
  await h.settled();
  assert.equal(receiver.received.length, 1, 'delivered once');
  assert.equal(await messageCount(), 1);
});

test('the same key with a different body is 409, and nothing is stored', async () => {
  const res = await h.send(patientAdmin(2), withKey('order-0001'));
  assert.equal(res.status, 409);
  assert.equal(res.body.Meta.Errors[0].Module, 'Routing');
  assert.match(res.body.Meta.Errors[0].Text, /different body/);
  assert.equal(await messageCount(), 1);
});

test('concurrent repeats of one key store one message', async () => {
  const answers = await Promise.all(Array.from({ length: 20 }, () => h.send(THREE, withKey('burst-1'))));
  assert.ok(answers.every((a) => a.status === 200));
  const ids = new Set(answers.map((a) => a.body.Meta.Message.ID));
  assert.equal(ids.size, 1, 'every answer names the same message');
  assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'false').length, 1);
  assert.equal(await messageCount(), 2);
});

test('keys belong to their source: another source may use the same key', async () => {
  const other = await h.token('other-client');
  const res = await h.send(ONE, { token: other, ...withKey('order-0001') });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('idempotent-replayed'), 'false');
});

test('after the 24 h window a key is new again', async () => {
  h.clock.advance(24 * 3_600_000 + 1);
  const token = await fetchFreshToken();
  const res = await h.send(ONE, { token, ...withKey('order-0001') });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('idempotent-replayed'), 'false');
  assert.equal(await messageCount(), 3);
});

test('a malformed key is 400', async () => {
  const res = await h.send(patientAdmin(9), { token: await fetchFreshToken(), ...withKey('x'.repeat(300)) });
  assert.equal(res.status, 400);
  assert.match(res.body.Meta.Errors[0].Text, /Idempotency-Key/);
});

/** The harness caches tokens; after the clock jumped a day they have expired. */
async function fetchFreshToken(): Promise<string> {
  const res = await fetch(`${h.url}/v2/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'ehr-client',
      client_secret: 'test-secret-0123456789',
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}
