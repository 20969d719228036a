import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { OTHER_PLATFORM_KEY, startHarness, type Harness } from '../helpers/harness.ts';

/**
 * The verification handshake (SPEC 3, `POST /platform/v1/destinations/{id}/verify`): a fresh
 * challenge and the destination's verification token go out by POST (JSON) or GET (query
 * parameters); it is verified only when a 2xx answer carries the challenge back.
 */

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let h: Harness;
let server: Server;
const seen: Seen[] = [];
let base = '';

before(async () => {
  // /echo answers the challenge it got; /deaf answers 200 without it; /broken answers 500 with it.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://x');
      const challenge =
        req.method === 'GET'
          ? url.searchParams.get('challenge')
          : (JSON.parse(body || '{}') as { challenge?: string }).challenge;
      if (url.pathname === '/deaf') return res.writeHead(200).end('{"ok":true}');
      res.writeHead(url.pathname === '/broken' ? 500 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ challenge }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const downPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  h = await startHarness({
    destinations: [
      { id: 'app', url: `${base}/echo?tenant=acme` },
      { id: 'deaf', url: `${base}/deaf` },
      { id: 'broken', url: `${base}/broken` },
      { id: 'down', url: `http://127.0.0.1:${downPort}/redox` },
    ],
    other: { destinations: [{ id: 'theirs', url: `${base}/echo` }] },
  });
});

after(async () => {
  await h.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('POST handshake: the token and a fresh challenge go out as JSON; the challenge came back', async () => {
  seen.length = 0;
  const first = await h.platform('POST', '/platform/v1/destinations/app/verify');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.verified, true);
  assert.equal(first.body.method, 'POST');
  assert.equal(first.body.statusCode, 200);
  assert.equal(first.body.reason, null);
  assert.equal(typeof first.body.durationMs, 'number');
  const sent = JSON.parse(seen[0]!.body) as Record<string, string>;
  assert.equal(seen[0]!.method, 'POST');
  assert.equal(sent['verification-token'], 'token-app');
  assert.match(sent.challenge!, /^[0-9a-f-]{36}$/);
  assert.equal(seen[0]!.headers['verification-token'], 'token-app');
  await h.platform('POST', '/platform/v1/destinations/app/verify');
  assert.notEqual(JSON.parse(seen[1]!.body).challenge, sent.challenge, 'a new challenge every time');
});

test('GET handshake: challenge and token as query parameters, the URL its own ones kept', async () => {
  seen.length = 0;
  const answer = await h.platform('POST', '/platform/v1/destinations/app/verify', { method: 'GET' });
  assert.equal(answer.body.verified, true, JSON.stringify(answer.body));
  assert.equal(answer.body.method, 'GET');
  const url = new URL(seen[0]!.url, 'http://x');
  assert.equal(seen[0]!.method, 'GET');
  assert.equal(url.searchParams.get('tenant'), 'acme');
  assert.equal(url.searchParams.get('verification-token'), 'token-app');
  assert.match(url.searchParams.get('challenge')!, /^[0-9a-f-]{36}$/);
});

test('not verified: a 2xx without the challenge, a 5xx with it, a destination down', async () => {
  const deaf = await h.platform('POST', '/platform/v1/destinations/deaf/verify');
  assert.equal(deaf.status, 200);
  assert.deepEqual([deaf.body.verified, deaf.body.statusCode], [false, 200]);
  assert.equal(deaf.body.reason, 'The answer does not contain the challenge');
  const broken = await h.platform('POST', '/platform/v1/destinations/broken/verify');
  assert.deepEqual([broken.body.verified, broken.body.statusCode], [false, 500]);
  assert.equal(broken.body.reason, 'Destination answered 500');
  const down = await h.platform('POST', '/platform/v1/destinations/down/verify');
  assert.deepEqual([down.body.verified, down.body.statusCode], [false, null]);
  assert.match(down.body.reason, /ECONNREFUSED/);
});

test("unknown, or another organization's, destination: 404 alike; a bad body: 400", async () => {
  const unknown = await h.platform('POST', '/platform/v1/destinations/nope/verify');
  const theirs = await h.platform('POST', '/platform/v1/destinations/theirs/verify');
  assert.equal(unknown.status, 404);
  assert.equal(theirs.status, 404);
  assert.deepEqual(theirs.body, unknown.body);
  const own = await h.platform(
    'POST',
    '/platform/v1/destinations/theirs/verify',
    undefined,
    OTHER_PLATFORM_KEY,
  );
  assert.equal(own.body.verified, true, 'the owner can verify it');
  const bad = await h.platform('POST', '/platform/v1/destinations/app/verify', { method: 'PUT' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'INVALID_FIELD');
});
