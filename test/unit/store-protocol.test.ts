import assert from 'node:assert/strict';
import { test } from 'node:test';
import { movable, outgoing, releaseMoved, type StoreCall } from '../../src/store/sqlite/store-protocol.ts';

/**
 * What crosses to the embedded store's thread moves large payloads instead of copying them
 * (issue 15: memory under a flood of large messages). A transfer that went wrong would either
 * copy again (memory) or detach a buffer its owner still uses (an empty delivery): both are
 * checked here; the store contract checks the bytes arrive intact.
 */

const BIG = 256 * 1024;
const call = (method: string, payload: unknown, role: StoreCall['role'] = 'intake'): StoreCall => ({
  id: 1,
  role,
  method,
  args: [{ orgId: 'acme', payload }, 'second argument'],
});
const payloadOf = (c: StoreCall) => (c.args[0] as { payload: unknown }).payload;

test("a large message's bytes are moved as they are: no copy", () => {
  const bytes = Buffer.allocUnsafeSlow(BIG).fill(97);
  const crossing = outgoing(call('acceptMessage', bytes));
  assert.equal(payloadOf(crossing.call), bytes);
  assert.deepEqual(crossing.transfer, [bytes.buffer]);
  assert.equal(crossing.call.args[1], 'second argument', 'the other arguments are kept');
});

test('large text is encoded once into a buffer of its own, which is moved', () => {
  const text = 'é'.repeat(BIG);
  const crossing = outgoing(call('acceptMessage', text));
  const moved = payloadOf(crossing.call) as Uint8Array;
  assert.equal(Buffer.from(moved).toString(), text);
  assert.deepEqual(crossing.transfer, [moved.buffer]);
});

test('bytes that share their memory, or that the caller keeps (a query), are copied before moving', () => {
  const pool = Buffer.allocUnsafeSlow(BIG * 2).fill(98);
  const view = pool.subarray(BIG);
  const shared = outgoing(call('acceptMessage', view));
  assert.notEqual((payloadOf(shared.call) as Uint8Array).buffer, pool.buffer, 'a slice is copied');
  assert.deepEqual(Buffer.from(payloadOf(shared.call) as Uint8Array), view);

  const query = Buffer.allocUnsafeSlow(BIG).fill(99);
  const recorded = outgoing(call('recordQuery', query));
  assert.notEqual(
    (payloadOf(recorded.call) as Uint8Array).buffer,
    query.buffer,
    "a query's bytes stay the caller's",
  );
  assert.equal(query.byteLength, BIG);
});

test('small payloads and other roles cross as they are, cloned', () => {
  assert.deepEqual(outgoing(call('acceptMessage', Buffer.from('{"small":true}'))).transfer, []);
  assert.deepEqual(outgoing(call('acceptMessage', '{"small":true}')).transfer, []);
  const other = call('searchLogs', 'x'.repeat(BIG), 'operators');
  assert.equal(outgoing(other).call, other);
});

test("a reply moves delivery logs' large payloads, and only whole buffers of their own", () => {
  const own = new Uint8Array(BIG);
  const shared = new Uint8Array(new ArrayBuffer(BIG * 2), 0, BIG);
  const into = new Set<ArrayBuffer>();
  movable(
    [{ payload: own }, { payload: shared }, { payload: new Uint8Array(10) }, { payload: 'text' }],
    into,
  );
  assert.deepEqual([...into], [own.buffer]);
  movable({ payload: own }, into);
  assert.equal(into.size, 1, 'only arrays of logs are looked at');
});

test('the bytes a call moved are freed once it has run', () => {
  const moved = new Uint8Array(BIG);
  const c = call('acceptMessage', moved);
  releaseMoved(c);
  assert.equal(moved.buffer.detached, true);
  assert.equal(moved.byteLength, 0);
  releaseMoved(c); // twice (a reply and an error path) is harmless
  releaseMoved(call('acceptMessage', 'text'));
});

test('bytes already moved by an earlier call are refused, not stored as an empty message', () => {
  const bytes = Buffer.allocUnsafeSlow(BIG).fill(97);
  structuredClone(bytes.buffer, { transfer: [bytes.buffer] }); // as postMessage does
  assert.throws(() => outgoing(call('acceptMessage', bytes)), /already moved/);
});
