import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, spawnServer, type ChildServer } from '../helpers/child-server.ts';
import { Receiver } from '../helpers/receiver.ts';
import { settle } from '../helpers/wait.ts';
import { createStorage, type TestStorage } from '../helpers/storage.ts';

/**
 * The payload limit bounds memory (SPEC 2.4 413 "refused while streaming, without reading it
 * whole"; docs/gateway.md "Limits"). The server runs as a child process with the default 10 MB
 * limit, so its resident memory can be read from /proc. Eight clients at once each stream a
 * 50 MB body, generated chunk by chunk (never held in this process), with chunked transfer
 * encoding: the server cannot know the size up front and has to count while it reads. Each must
 * get the documented 413 promptly, before its upload is done, with the connection closed, and
 * the child's memory must stay within what holding each request up to the limit costs.
 *
 * The bound: a body under the limit is valid, so a correct server may hold up to the limit of
 * each request before it can tell (8 x 10 MB = 80 MB), plus 48 MB for socket buffers, parser and
 * allocator slack: 128 MB over where the route's round started. Over the three rounds together
 * the bound is twice that: the previous round's buffers are garbage but need not be collected yet
 * when the next round allocates its own. Measured on the development machine: +90 to +96 MB on the
 * first route (fresh pages), +30 to +57 MB on the second, +0 on the third (pages reused): about
 * +140 MB in all, and flat from there. A server that buffered the bodies whole would need at least
 * 8 x 50 MB = 400 MB in one round.
 */

const MB = 1024 * 1024;
const LIMIT = 10 * MB; // the default; the config below does not set it
const BODY = 50 * MB;
const CLIENTS = 8;
const BOUND = CLIENTS * LIMIT + 48 * MB;
const SECRET = 'memory-test-secret-0123456789';
const PLATFORM_KEY = 'pk_memory_test_0123456789';

let dir: string;
let storage: TestStorage;
let child: ChildServer;
let receiver: Receiver;
let token: string;
let port: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-memory-'));
  storage = await createStorage('memory');
  receiver = await Receiver.start();
  port = await freePort();
  child = await spawnServer(
    dir,
    {
      server: {
        dataDir: storage.dataDir,
        databaseUrl: storage.databaseUrl,
        logLevel: 'warn',
        // The payload limit is under test here; the in-flight budget (limits.test.ts) would
        // answer some of the eight 503 first, which bounds memory just as well.
        inFlightBodyBytes: 1024 * MB,
      },
      organizations: [
        {
          id: 'acme',
          name: 'Acme Health',
          platformKeys: [PLATFORM_KEY],
          sources: [
            { id: 'ehr', name: 'EHR', environment: 'staging', clientId: 'ehr-client', clientSecret: SECRET },
          ],
          destinations: [
            {
              id: 'app',
              name: 'App',
              environment: 'staging',
              url: receiver.url,
              fhirBaseUrl: receiver.url.replace(/\/redox$/, '/fhir'),
            },
          ],
          subscriptions: [
            { source: 'ehr', dataModel: 'PatientAdmin', destination: 'app' },
            { source: 'ehr', dataModel: 'PatientSearch', destination: 'app' },
          ],
        },
      ],
    },
    port,
  );
  const res = await fetch(`${child.url}/v2/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'ehr-client',
      client_secret: SECRET,
    }),
  });
  assert.equal(res.status, 200);
  token = ((await res.json()) as { access_token: string }).access_token;
});

after(async () => {
  if (child.process.exitCode === null) {
    child.process.kill('SIGTERM');
    await child.exited;
  }
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
  await storage.remove();
});

/** Resident memory of the child, in bytes. */
function rss(): number {
  const status = readFileSync(`/proc/${child.process.pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(kb, 'VmRSS in /proc/<pid>/status');
  return Number(kb[1]) * 1024;
}

const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;

interface Upload {
  /** Bytes of body written when the answer arrived (or when the connection ended). */
  sent: number;
  ms: number;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (this side never had to). */
  closedByServer: boolean;
}

/** The body, generated 64 KB at a time: a JSON (or form) start, then filler. */
function* bodyChunks(start: string): Generator<Buffer> {
  yield Buffer.from(start);
  const filler = Buffer.alloc(64 * 1024, 'a');
  for (let sent = start.length; sent < BODY; sent += filler.length) yield filler;
}

/** Where an upload waits a moment for the answer before it pushes on (see `upload`). */
const PAUSE_AT = LIMIT + 256 * 1024;
const PAUSE_MS = 5_000;

/**
 * One 50 MB upload over a raw socket with chunked transfer encoding; writes respect back
 * pressure. Once past the limit it stops writing for up to 5 s: a correct server has its answer
 * on the way by then, and it is read without racing a write against the server's close (a write
 * into the reset that follows a close with unread data destroys the socket, and the unread answer
 * with it). If no answer comes, it pushes the rest of the 50 MB, so a server that waits for the
 * whole body, or buffers it, shows that in the time, the bytes sent and its memory.
 */
function upload(path: string, contentType: string, start: string): Promise<Upload> {
  const began = Date.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    let sentAtAnswer = -1;
    let answer = Buffer.alloc(0);
    let destroyedByUs = false;
    socket.on('data', (chunk: Buffer) => {
      if (sentAtAnswer < 0) sentAtAnswer = sent;
      answer = Buffer.concat([answer, chunk]);
    });
    // The server closes while this side may still be writing: EPIPE or ECONNRESET is expected.
    socket.on('error', () => undefined);
    const guard = setTimeout(() => {
      destroyedByUs = true;
      socket.destroy();
    }, 30_000);
    let resume: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      clearTimeout(guard);
      clearTimeout(resume);
      const text = answer.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({
        sent: sentAtAnswer < 0 ? sent : sentAtAnswer,
        ms: Date.now() - began,
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0),
        headers,
        body: split < 0 ? '' : answer.subarray(Buffer.byteLength(head, 'latin1') + 4).toString('utf8'),
        closedByServer: !destroyedByUs,
      });
    });
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunks = bodyChunks(start);
    let paused = false;
    const pump = (): void => {
      if (sentAtAnswer >= 0 || socket.destroyed) return;
      if (!paused && sent >= PAUSE_AT) {
        paused = true;
        resume = setTimeout(pump, PAUSE_MS);
        return;
      }
      const next = chunks.next();
      if (next.done) {
        socket.write('0\r\n\r\n');
        return;
      }
      const chunk = next.value;
      sent += chunk.length;
      const more = socket.write(
        Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
      );
      if (more) setImmediate(pump);
      else socket.once('drain', () => setImmediate(pump));
    };
    pump();
  });
}

/**
 * The server closes right after its 413, and request bytes may still be unread on its side; its
 * kernel then resets the connection, and now and then (about 1 upload in 100 here) the reset
 * overtakes the answer on this side (RFC 9112 9.6, "the TCP reset problem"). Such an upload is
 * tried once more, alone, and the retry must get its 413.
 */
async function uploadOrRetry(
  path: string,
  contentType: string,
  start: string,
): Promise<Upload & { retried: boolean }> {
  const first = await upload(path, contentType, start);
  if (first.status !== 0 || !first.closedByServer) return { ...first, retried: false };
  return { ...(await upload(path, contentType, start)), retried: true };
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const ROUTES = [
  {
    path: '/endpoint',
    type: 'application/json',
    start: '{"Meta":{"DataModel":"PatientAdmin","EventType":"NewPatient"},"Filler":"',
    check: (body: unknown): void =>
      assert.deepEqual(body, {
        Meta: {
          Errors: [
            {
              ID: 531805,
              Text: 'Request body is larger than the payload limit',
              Type: 'message',
              Module: 'DataModels',
            },
          ],
        },
      }),
  },
  {
    path: '/query',
    type: 'application/json',
    start: '{"Meta":{"DataModel":"PatientSearch","EventType":"Query"},"Filler":"',
    check: (body: unknown): void =>
      assert.deepEqual(body, {
        Meta: {
          Errors: [
            {
              ID: 531805,
              Text: 'Request body is larger than the payload limit',
              Type: 'query',
              Module: 'DataModels',
            },
          ],
        },
      }),
  },
  {
    path: '/fhir/R4/acme/staging/Patient/_search',
    type: 'application/x-www-form-urlencoded',
    start: 'family=Smith&filler=',
    check: (body: unknown): void =>
      assert.deepEqual(body, {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'too-long',
            details: { text: 'Request body is larger than the payload limit' },
          },
        ],
      }),
  },
] as const;

let baseline = 0;

test('warm-up: each route serves a normal request; baseline memory', async (t) => {
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  for (let i = 0; i < 3; i++) {
    const sent = await fetch(`${child.url}/endpoint`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
        Patient: { Identifiers: [{ ID: `MRN-${i}`, IDType: 'MR' }] },
        n: i,
      }),
    });
    assert.equal(sent.status, 200, await sent.text());
    const query = await fetch(`${child.url}/query`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ Meta: { DataModel: 'PatientSearch', EventType: 'Query' } }),
    });
    assert.equal(query.status, 200, await query.text());
    const fhir = await fetch(`${child.url}/fhir/R4/acme/staging/Patient/_search`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'family=Smith',
    });
    assert.equal(fhir.status, 200, await fhir.text());
  }
  await settle(300);
  baseline = rss();
  t.diagnostic(`memory: child baseline RSS ${mb(baseline)}`);
});

for (const route of ROUTES) {
  test(`${CLIENTS} concurrent 50 MB bodies to POST ${route.path}: 413 each, promptly, memory bounded`, async (t) => {
    const before = rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 10);
    let uploads: (Upload & { retried: boolean })[];
    try {
      uploads = await Promise.all(
        Array.from({ length: CLIENTS }, () => uploadOrRetry(route.path, route.type, route.start)),
      );
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rss());
    await settle(200);
    const afterwards = rss();
    const sent = uploads.map((u) => u.sent);
    const times = uploads.map((u) => u.ms);
    t.diagnostic(
      `memory: POST ${route.path}: ${CLIENTS} x 50 MB -> ${uploads.map((u) => u.status).join(',')} in ` +
        `${Math.min(...times)}-${Math.max(...times)} ms; client had sent ${mb(Math.min(...sent))}-${mb(Math.max(...sent))} ` +
        `each when the answer came; child RSS ${mb(before)} -> peak ${mb(peak)} (+${mb(peak - before)}, ` +
        `bound +${mb(BOUND)}) -> ${mb(afterwards)} after` +
        `; ${uploads.filter((u) => u.retried).length} reset before the answer was read, retried`,
    );
    assert.ok(uploads.filter((u) => u.retried).length <= 2, 'at most 2 of 8 lost their answer to a reset');
    for (const [i, u] of uploads.entries()) {
      const what = `upload ${i + 1} to ${route.path}`;
      assert.equal(u.status, 413, `${what}: status; got ${JSON.stringify(u)}`);
      assert.match(u.headers['content-type'] ?? '', /^application\/(fhir\+)?json/, what);
      for (const [name, value] of Object.entries(SECURITY_HEADERS))
        assert.equal(u.headers[name], value, `${what}: ${name}`);
      route.check(JSON.parse(u.body));
      // Answered while the upload was still going, without waiting for the rest of the 50 MB.
      assert.ok(u.sent < PAUSE_AT + MB, `${what}: answered after ${mb(u.sent)} of ${mb(BODY)}`);
      assert.ok(u.ms < PAUSE_MS, `${what}: answered in ${u.ms} ms`);
      assert.ok(u.closedByServer, `${what}: the server closed the connection instead of reading on`);
    }
    assert.ok(peak - before < BOUND, `RSS grew by ${mb(peak - before)}; bound ${mb(BOUND)}`);
    assert.ok(
      peak - baseline < 2 * BOUND,
      `RSS ${mb(peak - baseline)} over the baseline after this round; bound ${mb(2 * BOUND)}`,
    );
  });
}

test('afterwards: the child still serves, and none of the refused bodies was stored', async () => {
  assert.equal(child.process.exitCode, null, `the child is alive:\n${child.output()}`);
  assert.equal((await fetch(`${child.url}/healthz`)).status, 200);
  const logs = await fetch(`${child.url}/platform/v1/logs?limit=500`, {
    headers: { authorization: `Bearer ${PLATFORM_KEY}` },
  });
  const { logs: list } = (await logs.json()) as { logs: { dataModel: string }[] };
  // The warm-up's 3 messages, 3 queries and 3 FHIR searches: 9 logs, nothing more.
  assert.equal(list.length, 9, JSON.stringify(list.map((l) => l.dataModel)));
});
