import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PLATFORM_KEY, SECRET, harnessConfig, patientAdmin, request } from '../helpers/harness.ts';
import { freePort, spawnServer } from '../helpers/child-server.ts';
import { createServer } from 'node:http';
import { waitFor } from '../helpers/wait.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-process-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

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

test('SIGTERM: the attempt in flight finishes and is recorded, then the process exits cleanly', async () => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  // The receiver answers only when the test says so, so the attempt is in flight at SIGTERM.
  const slow = createServer((req, res) => {
    req.resume();
    req.on('end', () => void held.then(() => res.writeHead(200).end('{}')));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/slow`;
  const config = harnessConfig(
    { destinations: [{ id: 'app', url: slowUrl }], server: { logLevel: 'warn' } },
    join(dir, 'data'),
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
    const sent = await request(child.url, 'POST', '/endpoint', {
      body: JSON.stringify(patientAdmin(1)),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token.body.access_token}` },
    });
    assert.equal(sent.status, 200);
    const logId = sent.body.Meta.Logs[0].ID as string;
    await waitFor(async () => {
      const log = await request(child.url, 'GET', `/platform/v1/logs/${logId}`, {
        headers: { authorization: `Bearer ${PLATFORM_KEY}` },
      });
      return log.body.state === 'processing';
    });
    child.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(child.process.exitCode, null, 'waits for the attempt in flight');
    release();
    assert.equal(await child.exited, 0);

    child = await spawnServer(dir, withSlow, port);
    const log = await request(child.url, 'GET', `/platform/v1/logs/${logId}`, {
      headers: { authorization: `Bearer ${PLATFORM_KEY}` },
    });
    assert.equal(log.body.status, 'succeeded', 'the attempt finished during shutdown was recorded');
    assert.equal(log.body.attempts.length, 1);
  } finally {
    child.process.kill('SIGKILL');
    slow.close();
  }
});
