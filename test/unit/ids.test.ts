import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../src/lib/ids.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('newId: RFC 9562 version 7, its timestamp the current millisecond, unique', () => {
  const before = Date.now();
  const ids = Array.from({ length: 10_000 }, () => newId());
  const after = Date.now();
  for (const id of ids) assert.match(id, V7);
  assert.equal(new Set(ids).size, ids.length);
  const time = parseInt(ids[0]!.replaceAll('-', '').slice(0, 12), 16);
  assert.ok(time >= before && time <= after, `timestamp ${time} within [${before}, ${after}]`);
});

test('newId: IDs of later milliseconds sort after earlier ones', async () => {
  const first = newId();
  await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(newId() > first);
});
