import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, test } from 'node:test';
import { PLATFORM_KEY, patientAdmin, request, startHarness, type Harness } from '../helpers/harness.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const open: Harness[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function harness(options: Partial<Parameters<typeof startHarness>[0]> = {}): Promise<Harness> {
  const h = await startHarness({
    destinations: [{ id: 'app', url: 'http://127.0.0.1:9/x' }],
    subscribed: [],
    ...options,
  });
  open.push(h);
  return h;
}

const health = (h: Harness, headers: Record<string, string> = {}) =>
  request(h.url, 'GET', '/platform/v1/logs', {
    headers: { authorization: `Bearer ${PLATFORM_KEY}`, ...headers },
  });

test('over the limit: 429 with Retry-After and the documented body; allowed again once the window has rolled', async () => {
  const h = await harness({ server: { rateLimit: 5, rateWindowMs: 60_000 } });
  for (let i = 0; i < 5; i++) assert.equal((await health(h)).status, 200, `request ${i + 1}`);
  const limited = await health(h);
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'RATE_LIMITED');
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 120, `Retry-After ${retryAfter}`);

  // Every API family answers 429 in its own shape.
  const endpoint = await request(h.url, 'POST', '/endpoint', {
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(endpoint.status, 429);
  assert.equal(endpoint.body.Meta.Errors[0].Module, 'Auth');
  const fhir = await request(h.url, 'GET', '/fhir/R4/acme/production/Patient/1');
  assert.equal(fhir.status, 429);
  assert.equal(fhir.body.issue[0].code, 'throttled');
  assert.equal((await request(h.url, 'GET', '/healthz')).status, 200, 'probes are never limited');

  h.clock.advance(retryAfter * 1000 - 1_500);
  assert.equal((await health(h)).status, 429, 'not before Retry-After');
  h.clock.advance(60_000 + 120_000);
  assert.equal((await health(h)).status, 200);
});

test('behind a trusted proxy each client IP has its own budget; untrusted X-Forwarded-For is ignored', async () => {
  const trusting = await harness({ server: { rateLimit: 2, trustedProxies: ['127.0.0.1'] } });
  for (const ip of ['203.0.113.1', '203.0.113.2'])
    for (let i = 0; i < 2; i++) assert.equal((await health(trusting, { 'x-forwarded-for': ip })).status, 200);
  assert.equal((await health(trusting, { 'x-forwarded-for': '203.0.113.1' })).status, 429);

  const plain = await harness({ server: { rateLimit: 2 } });
  assert.equal((await health(plain, { 'x-forwarded-for': '203.0.113.1' })).status, 200);
  assert.equal((await health(plain, { 'x-forwarded-for': '203.0.113.2' })).status, 200);
  assert.equal(
    (await health(plain, { 'x-forwarded-for': '203.0.113.3' })).status,
    429,
    'a spoofed header buys nothing',
  );
});

test("an organization's own lower limit applies to its authenticated traffic", async () => {
  const h = await harness({ server: { rateLimit: 100 }, acme: { rateLimit: 3 } });
  const token = await h.token();
  for (let i = 0; i < 3; i++) assert.equal((await h.send(patientAdmin(i), { token })).status, 200);
  const limited = await h.send(patientAdmin(9), { token });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  const other = await h.token('other-client');
  assert.equal(
    (await h.send(patientAdmin(1), { token: other })).status,
    200,
    'other organizations are not affected',
  );
});

test('with Redis, instances share one count', async () => {
  const shared = { rateLimit: 4, redisUrl: REDIS_URL, redisKeyPrefix: `test-${randomUUID()}` };
  const a = await harness({ server: shared });
  const b = await harness({ server: shared });
  b.clock.advance(a.clock.now() - b.clock.now());
  assert.equal((await health(a)).status, 200);
  assert.equal((await health(b)).status, 200);
  assert.equal((await health(a)).status, 200);
  assert.equal((await health(b)).status, 200);
  assert.equal((await health(a)).status, 429, 'the fifth request, wherever it lands, is over');
  assert.equal((await health(b)).status, 429);
});

test('a client that sends its headers too slowly is cut off; others are served meanwhile', async () => {
  const h = await harness({ server: { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 } });
  const { port } = new URL(h.url);
  const socket = connect(Number(port), '127.0.0.1');
  const closed = new Promise<string>((resolve) => {
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    socket.on('close', () => resolve(answer));
  });
  socket.write('POST /endpoint HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => socket.write('X-Slow: y\r\n'), 200);
  try {
    assert.equal((await health(h)).status, 200, 'served while the slow client drips');
    const answer = await Promise.race([
      closed,
      new Promise<string>((_, reject) =>
        setTimeout(() => reject(new Error('slow client never cut off')), 8_000),
      ),
    ]);
    assert.match(answer, /^HTTP\/1\.1 408|^$/, 'closed with 408 or without an answer');
  } finally {
    clearInterval(drip);
    socket.destroy();
  }
});

test('an incomplete request line and then nothing is answered 408 at the headers timeout', async () => {
  const h = await harness({ server: { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 } });
  const { port } = new URL(h.url);
  const socket = connect(Number(port), '127.0.0.1');
  const started = performance.now();
  const closed = new Promise<string>((resolve) => {
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    socket.on('close', () => resolve(answer));
  });
  socket.write('GET /\r\n');
  try {
    const answer = await Promise.race([
      closed,
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error('held with no answer')), 8_000)),
    ]);
    assert.match(answer, /^HTTP\/1\.1 408 /, 'answered, not dropped');
    assert.ok(performance.now() - started < 4_000, 'at the headers timeout, not much later');
  } finally {
    socket.destroy();
  }
});

test('every answer carries the security headers, errors included', async () => {
  const h = await harness();
  for (const res of [
    await health(h),
    await request(h.url, 'GET', '/nowhere'),
    await request(h.url, 'GET', '/healthz'),
  ]) {
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  }
});

test('the in-flight body budget: a request that would pass it gets 503 BUSY with Retry-After, unread; then it fits', async () => {
  const h = await harness({ server: { inFlightBodyBytes: 1_000_000 } });
  const token = await h.token();
  const body = JSON.stringify({ ...patientAdmin(1), Notes: ['x'.repeat(600_000)] });
  const { port } = new URL(h.url);
  // A first request whose body is still arriving holds 600 KB of the budget.
  const slow = connect(Number(port), '127.0.0.1');
  const slowAnswer = new Promise<string>((resolve) => {
    let answer = '';
    slow.on('data', (c) => (answer += c.toString()));
    slow.on('close', () => resolve(answer));
  });
  slow.write(
    `POST /endpoint HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 1000)}`,
  );
  const send = () =>
    fetch(`${h.url}/endpoint`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
  let busy: Response | undefined;
  for (let i = 0; i < 50 && busy?.status !== 503; i++) busy = await send();
  assert.equal(busy?.status, 503);
  assert.equal(busy?.headers.get('retry-after'), '1');
  const answer = (await busy!.json()) as { Meta: { Errors: { ID: number; Text: string }[] } };
  assert.equal(answer.Meta.Errors[0]!.ID, 531845);
  assert.match(answer.Meta.Errors[0]!.Text, /nothing was stored/);
  slow.write(body.slice(1000));
  assert.match(await slowAnswer, /^HTTP\/1\.1 200 /);
  assert.equal((await send()).status, 200, 'fits once the first is done');
  const small = await h.send(patientAdmin(2));
  assert.equal(small.status, 200);
});
