import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { patientAdmin, request, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';

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

test('with storage reachable: /healthz and /readyz answer 200', async () => {
  const alive = await request(h.url, 'GET', '/healthz');
  assert.equal(alive.status, 200);
  assert.deepEqual(alive.body, { status: 'ok' });
  const ready = await request(h.url, 'GET', '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body, { status: 'ready' });
});

test('storage unreachable: /readyz answers 503 with Retry-After, /healthz still 200', async () => {
  const token = await h.token();
  // The store goes away under the running server: its thread is stopped and every call fails.
  await h.server.store.close();

  const ready = await request(h.url, 'GET', '/readyz');
  assert.equal(ready.status, 503);
  assert.match(ready.headers.get('retry-after') ?? '', /^[1-9]\d*$/, 'Retry-After in whole seconds');
  assert.equal(ready.body.status, 'unavailable');
  assert.match(ready.body.reason, /storage/);

  const alive = await request(h.url, 'GET', '/healthz');
  assert.equal(alive.status, 200, 'the process is alive even if its storage is not');
  assert.deepEqual(alive.body, { status: 'ok' });

  // A message cannot be stored meanwhile: 503 STORE_UNAVAILABLE (docs/errors.md), with Retry-After.
  const sent = await h.send(patientAdmin(1), { token });
  assert.equal(sent.status, 503);
  assert.match(sent.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  assert.equal(sent.body.Meta.Errors[0].ID, 531841);
  assert.equal(receiver.received.length, 0);
});
