import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  PLATFORM_KEY,
  SECRET,
  harnessConfig,
  patientAdmin,
  request,
  type Answer,
} from '../helpers/harness.ts';
import { createStorage } from '../helpers/storage.ts';
import { freePort, spawnServer, type ChildServer } from '../helpers/child-server.ts';
import { createServer, request as httpRequest } from 'node:http';
import { waitFor } from '../helpers/wait.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-process-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function send(child: ChildServer, n: number): Promise<Answer> {
  const token = await request(child.url, 'POST', '/v2/auth/token', {
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'ehr-client',
      client_secret: SECRET,
    }),
  });
  return request(child.url, 'POST', '/endpoint', {
    body: JSON.stringify(patientAdmin(n)),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token.body.access_token}` },
  });
}

const getLog = (child: ChildServer, id: string): Promise<Answer> =>
  request(child.url, 'GET', `/platform/v1/logs/${id}`, {
    headers: { authorization: `Bearer ${PLATFORM_KEY}` },
  });

/**
 * One request on a new connection (no keep-alive pool): the status it got, or the error code of
 * a connection that was refused or closed.
 */
function tryRequest(
  url: string,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpRequest(
      `${url}${path}`,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: { 'content-type': 'application/json', ...init.headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end(init.body);
  });
}

test('invalid configuration stops start-up with a message naming the bad field', async () => {
  const config = {
    organizations: [
      {
        id: 'acme',
        name: 'Acme',
        sources: [{ id: 'ehr', name: 'EHR', environment: 'production', clientId: 'c', clientSecret: SECRET }],
        destinations: [{ id: 'app', name: 'App', environment: 'production', url: 'http://127.0.0.1:1/x' }],
        subscriptions: [{ source: 'ehr', dataModel: 'PatientAdmin', destination: 'ap' }],
      },
    ],
  };
  const child = await spawnServer(dir, config, await freePort());
  assert.equal(await child.exited, 78);
  assert.match(child.output(), /organizations\.0\.subscriptions\.0\.destination: unknown destination "ap"/);
});

test('SIGTERM: new requests are refused; the attempt in flight finishes and is recorded; exit 0', async () => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  // The receiver answers only when the test says so, so the attempt is in flight at SIGTERM.
  const slow = createServer((req, res) => {
    req.resume();
    req.on('end', () => void held.then(() => res.writeHead(200).end('{}')));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/slow`;
  const storage = await createStorage('sigterm');
  const config = harnessConfig(
    {
      destinations: [{ id: 'app', url: slowUrl }],
      server: { logLevel: 'warn' },
      // Time enough to probe the server while it waits for the attempt.
      delivery: { shutdownGraceMs: 10_000 },
    },
    storage,
  );
  const withSlow = { ...config, server: { ...config.server, port: undefined, host: undefined } };
  const port = await freePort();
  let child = await spawnServer(dir, withSlow, port);
  try {
    const token = await request(child.url, 'POST', '/v2/auth/token', {
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'ehr-client',
        client_secret: SECRET,
      }),
    });
    const authorization = `Bearer ${token.body.access_token}`;
    const sent = await send(child, 1);
    assert.equal(sent.status, 200);
    const logId = sent.body.Meta.Logs[0].ID as string;
    await waitFor(async () => (await getLog(child, logId)).body.state === 'processing');
    child.process.kill('SIGTERM');

    // Stopping: new connections are refused (or, if one gets through, answered 502 SHUTTING_DOWN).
    const refusals = ['ECONNREFUSED', 502];
    await waitFor(
      async () => refusals.includes(await tryRequest(child.url, '/healthz')),
      3_000,
      'the server to stop accepting',
    );
    const late = await tryRequest(child.url, '/endpoint', {
      method: 'POST',
      body: JSON.stringify(patientAdmin(2)),
      headers: { authorization },
    });
    assert.ok(refusals.includes(late), `a message sent after SIGTERM is not accepted (got ${late})`);
    assert.equal(child.process.exitCode, null, 'waits for the attempt in flight');
    release();
    assert.equal(await child.exited, 0, child.output());

    child = await spawnServer(dir, withSlow, port);
    const log = await getLog(child, logId);
    assert.equal(log.body.status, 'succeeded', 'the attempt finished during shutdown was recorded');
    assert.equal(log.body.attempts.length, 1);
    const all = await request(child.url, 'GET', '/platform/v1/logs', {
      headers: { authorization: `Bearer ${PLATFORM_KEY}` },
    });
    assert.deepEqual(
      all.body.logs.map((l: { id: string }) => l.id),
      [logId],
      'nothing was stored after SIGTERM',
    );
  } finally {
    child.process.kill('SIGKILL');
    await child.exited;
    slow.close();
    await storage.remove();
  }
});

test('SIGTERM: an attempt that outlasts the grace period is aborted, not recorded, and delivered again after restart', async () => {
  // The first request is never answered; later ones are.
  const seen: { logId: string; closedBySender: Promise<void> }[] = [];
  const receiver = createServer((req, res) => {
    const closedBySender = new Promise<void>((resolve) => res.on('close', () => resolve()));
    req.resume();
    req.on('end', () => {
      seen.push({ logId: String(req.headers['x-switchboard-log-id']), closedBySender });
      if (seen.length > 1) res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/held`;
  const storage = await createStorage('grace');
  const graceMs = 300;
  const config = harnessConfig(
    {
      destinations: [{ id: 'app', url: receiverUrl }],
      server: { logLevel: 'warn' },
      delivery: { shutdownGraceMs: graceMs },
    },
    storage,
  );
  const withReceiver = { ...config, server: { ...config.server, port: undefined, host: undefined } };
  const port = await freePort();
  let child = await spawnServer(dir, withReceiver, port);
  try {
    const sent = await send(child, 1);
    assert.equal(sent.status, 200);
    const logId = sent.body.Meta.Logs[0].ID as string;
    await waitFor(() => seen.length === 1, 5_000, 'the first attempt to arrive');

    const stoppedAt = Date.now();
    child.process.kill('SIGTERM');
    const code = await Promise.race([
      child.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 5 s'), 5_000).unref()),
    ]);
    const took = Date.now() - stoppedAt;
    assert.equal(code, 0, child.output());
    assert.ok(took >= graceMs, `waited the grace period (${took} ms)`);
    // The attempt was aborted: its connection was closed by Switchboard, not answered.
    await seen[0]!.closedBySender;

    child = await spawnServer(dir, withReceiver, port);
    await waitFor(() => seen.length === 2, 5_000, 'the log to be delivered again');
    assert.equal(seen[1]!.logId, logId, 'the same log ID');
    await waitFor(
      async () => (await getLog(child, logId)).body.status === 'succeeded',
      5_000,
      'the log to succeed',
    );
    const log = await getLog(child, logId);
    assert.equal(log.body.attempts.length, 1, 'the aborted attempt was not recorded');
    assert.equal(log.body.attempts[0].statusCode, 200);
  } finally {
    child.process.kill('SIGKILL');
    await child.exited;
    receiver.closeAllConnections();
    receiver.close();
    await storage.remove();
  }
});
