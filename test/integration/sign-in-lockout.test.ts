import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { SECRET, startHarness, type Harness } from '../helpers/harness.ts';

/**
 * Brute-force protection of the token endpoints (issue 15): 10 wrong secrets for a client ID
 * within a minute lock it out with 429 and Retry-After (even the right secret, meanwhile); the
 * lockout doubles each time; a success resets; with Redis, every instance sees the lockout.
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function harness(server: Record<string, unknown> = {}): Promise<Harness> {
  const h = await startHarness({ destinations: [{ id: 'app', url: 'http://127.0.0.1:9/x' }], server });
  open.push(h);
  return h;
}

const CLIENT = 'ehr-client';

async function token(h: Harness, secret: string, client = CLIENT): Promise<Response> {
  return fetch(`${h.url}/v2/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client, client_secret: secret }),
  });
}

async function legacy(h: Harness, secret: string): Promise<Response> {
  return fetch(`${h.url}/auth/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: CLIENT, secret }),
  });
}

test('10 wrong secrets lock the client out for a minute, then twice as long; a success resets', async () => {
  const h = await harness();
  for (let i = 0; i < 10; i++) assert.equal((await token(h, `wrong-${i}`)).status, 401);
  const locked = await token(h, SECRET);
  assert.equal(locked.status, 429, 'even the right secret, while locked');
  assert.equal(locked.headers.get('retry-after'), '60');
  assert.equal((await legacy(h, SECRET)).status, 429, 'the older flow shares the count');
  assert.equal((await token(h, 'x', 'another-client')).status, 401, 'another client is not locked');

  h.clock.advance(60_000);
  for (let i = 0; i < 10; i++) assert.equal((await legacy(h, `wrong-${i}`)).status, 401);
  const again = await token(h, SECRET);
  assert.equal(again.status, 429);
  assert.equal(again.headers.get('retry-after'), '120', 'doubled');

  h.clock.advance(120_000);
  assert.equal((await token(h, SECRET)).status, 200);
  for (let i = 0; i < 9; i++) assert.equal((await token(h, `wrong-${i}`)).status, 401);
  assert.equal((await token(h, SECRET)).status, 200, 'nine failures after a success do not lock');
  assert.equal((await token(h, 'wrong')).status, 401, 'the success reset the count');
});

test('with Redis, a lockout on one instance holds on the other', async () => {
  const shared = { redisUrl: REDIS_URL, redisKeyPrefix: `test-${randomUUID()}` };
  const a = await harness(shared);
  const b = await harness(shared);
  for (let i = 0; i < 10; i++) assert.equal((await token(i % 2 ? a : b, `wrong-${i}`)).status, 401);
  const locked = await token(b, SECRET);
  assert.equal(locked.status, 429);
  assert.ok(Number(locked.headers.get('retry-after')) > 0);
  assert.equal((await token(a, SECRET)).status, 429);
});
