import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ehrToken, freePort } from '../helpers/child-server.ts';
import { PLATFORM_KEY, harnessConfigFile, patientAdmin } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { fillToLastPage, mountTmpfs } from '../helpers/tmpfs.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A full disk, for real: the embedded store's data directory on an 8 MB tmpfs (mounting needs
 * root, as CI has). Writes answer 503 and `/readyz` turns 503 with the reason; a restart on the
 * full disk (with a changed config file, so start-up must write) starts, serves reads and says
 * why it is not ready; once space returns it turns ready by itself, applies the configuration,
 * accepts again, and every acknowledged message is delivered.
 */

test(
  'a full disk: 503 and not ready; a restart on it serves reads; ready again when space returns',
  { timeout: 90_000 },
  async (t) => {
    const disk = mountTmpfs('full', 8);
    const mount = disk.path;
    const receiver = await Receiver.start();
    let server: ServerProcess | undefined;
    t.after(async () => {
      await server?.kill();
      await receiver.close();
      disk.remove();
    });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const configFile = join(tmpdir(), `switchboard-full-${port}.json`);
    const writeConfig = (destinations: { id: string; url: string }[]): void =>
      writeFileSync(
        configFile,
        JSON.stringify(
          harnessConfigFile(
            { destinations, server: { port, logLevel: 'error', rateLimit: 1_000_000 } },
            { dataDir: join(mount, 'data'), databaseUrl: undefined },
          ),
        ),
      );
    writeConfig([{ id: 'app', url: receiver.url }]);
    server = await startServerProcess(configFile, url);
    const token = await ehrToken(url);
    const filler = join(mount, 'filler');
    writeFileSync(filler, Buffer.alloc(3 * 1024 * 1024));
    const big = (n: number) => ({ ...patientAdmin(n), Notes: ['x'.repeat(60_000)] });
    const send = (n: number) =>
      fetch(`${url}/endpoint`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(big(n)),
      });
    const acked: string[] = [];
    let refused = 0;
    for (let n = 0; n < 400 && refused === 0; n++) {
      const answer = await send(n);
      const body = (await answer.json()) as { Meta?: { Logs?: { ID: string }[] } };
      if (answer.status === 200) acked.push(body.Meta!.Logs![0]!.ID);
      else {
        assert.equal(answer.status, 503);
        refused++;
      }
    }
    assert.equal(refused, 1, 'the disk filled up');
    const notReady = await fetch(`${url}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(((await notReady.json()) as { reason: string }).reason, /refuses writes/);

    // Restarted on the full disk with a new destination in the file: start-up has to write.
    // SQLite may fit that write into journal pages it already has (then it simply succeeds, and
    // the next restart is tried with another destination), so this takes up to five rounds.
    const rest = join(mount, 'rest');
    let later = '';
    let stillFull: Response | undefined;
    for (let round = 1; round <= 5; round++) {
      await server.kill();
      // What is left free is taken too, so that even a small new page cannot fit.
      fillToLastPage(rest);
      later = `later${round}`;
      writeConfig([
        { id: 'app', url: receiver.url },
        { id: later, url: receiver.url },
      ]);
      server = await startServerProcess(configFile, url);
      stillFull = await fetch(`${url}/readyz`);
      if (stillFull.status === 503) break;
    }
    assert.equal(stillFull?.status, 503, 'a restart that had to write on the full disk is not ready');
    assert.match(((await stillFull!.json()) as { reason: string }).reason, /refuses writes/);
    const platform = (path: string) =>
      fetch(`${url}${path}`, { headers: { authorization: `Bearer ${PLATFORM_KEY}` } });
    assert.equal((await platform('/platform/v1/logs?limit=5')).status, 200, 'reads are served');
    assert.equal((await platform(`/platform/v1/destinations/${later}`)).status, 404, 'not applied yet');

    rmSync(filler);
    rmSync(rest);
    await waitFor(
      async () => (await fetch(`${url}/readyz`)).status === 200,
      20_000,
      'ready once space returns',
    );
    await waitFor(
      async () => (await platform(`/platform/v1/destinations/${later}`)).status === 200,
      10_000,
      'the file applied',
    );
    const after = await send(10_000);
    assert.equal(after.status, 200);
    acked.push(((await after.json()) as { Meta: { Logs: { ID: string }[] } }).Meta.Logs[0]!.ID);
    await waitFor(
      () => {
        const seen = new Set(receiver.logIds());
        return acked.every((id) => seen.has(id));
      },
      30_000,
      'every acknowledged message delivered',
    );
    assert.doesNotMatch(server.output(), /\n\s+at /, 'no stack trace');
  },
);
