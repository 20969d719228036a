import assert from 'node:assert/strict';
import { rmSync, statfsSync, writeFileSync } from 'node:fs';
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
 * The disk guard (store/sqlite/disk-guard.ts), on a real 24 MB tmpfs (mounting needs root, as CI
 * has): new messages are refused while less than `server.diskFreeLimitBytes` is free, before the
 * disk itself is full, and the room kept lets a backlog behind a failing receiver be delivered
 * once it recovers (each attempt is a write). Then a graceful stop, the disk filled to its last
 * page by something else, and a restart: it starts (the lock file's page is still the store's),
 * serves reads, is not ready, and turns ready once space is freed. Without the guard the disk
 * fills up to its last page, attempts can no longer be recorded, and the backlog stays stuck.
 */

const MB = 1024 * 1024;
const free = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

test(
  'nearly full: new messages refused with room kept; the backlog still drains; a restart on a full disk starts',
  { timeout: 90_000 },
  async (t) => {
    const disk = mountTmpfs('guard', 24);
    const mount = disk.path;
    const receiver = await Receiver.start();
    receiver.respond = () => 500;
    let server: ServerProcess | undefined;
    t.after(async () => {
      await server?.kill();
      await receiver.close();
      disk.remove();
    });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const configFile = join(tmpdir(), `switchboard-guard-${port}.json`);
    writeFileSync(
      configFile,
      JSON.stringify(
        harnessConfigFile(
          {
            destinations: [{ id: 'app', url: receiver.url }],
            server: { port, logLevel: 'error', rateLimit: 1_000_000, diskFreeLimitBytes: 1 * MB },
            delivery: { retryInitialDelayMs: 200, retryMaxDelayMs: 500 },
          },
          { dataDir: join(mount, 'data'), databaseUrl: undefined },
        ),
      ),
    );
    server = await startServerProcess(configFile, url);
    const token = await ehrToken(url);
    // Room an operator can free at the end: the guard wants its floor back, not just any space.
    const filler = join(mount, 'filler');
    writeFileSync(filler, Buffer.alloc(4 * MB));
    const send = (n: number) =>
      fetch(`${url}/endpoint`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...patientAdmin(n), Notes: ['x'.repeat(60_000)] }),
      });
    const acked: string[] = [];
    let refusal: Response | undefined;
    for (let n = 0; n < 1_000 && !refusal; n++) {
      const answer = await send(n);
      if (answer.status === 200)
        acked.push(((await answer.json()) as { Meta: { Logs: { ID: string }[] } }).Meta.Logs[0]!.ID);
      else refusal = answer;
    }
    assert.equal(refusal?.status, 503, 'refused once nearly full');
    assert.equal(refusal.headers.get('retry-after'), '5');
    assert.ok(acked.length > 30, `${acked.length} accepted first`);
    assert.ok(free(mount) > 256 * 1024, `room kept: ${free(mount)} bytes free`);
    const readyz = await fetch(`${url}/readyz`);
    assert.equal(readyz.status, 503);
    assert.match(((await readyz.json()) as { reason: string }).reason, /nearly full/);

    // The receiver recovers: every acknowledged message is delivered, its attempts recorded in
    // the room the guard kept.
    receiver.respond = () => 200;
    await waitFor(
      () => {
        const seen = new Set(receiver.logIds());
        return acked.every((id) => seen.has(id));
      },
      45_000,
      `the backlog delivered while new messages are refused (${new Set(receiver.logIds()).size} of ${acked.length} seen, ${receiver.received.length} attempts, ${free(mount)} free)\n${server.output().slice(-3000)}`,
    );
    // (New messages may be taken again by now: the WAL, moved into the database file, started
    // over and was cut back to 4 MB, which gave its room back.)

    // A graceful stop; the disk then fills to its last page; a restart still starts.
    assert.equal(await server.stop(), 0);
    const rest = join(mount, 'rest');
    fillToLastPage(rest);
    server = await startServerProcess(configFile, url);
    const full = await fetch(`${url}/readyz`);
    assert.equal(full.status, 503, 'not ready on a full disk');
    const logs = await fetch(`${url}/platform/v1/logs?limit=5`, {
      headers: { authorization: `Bearer ${PLATFORM_KEY}` },
    });
    assert.equal(logs.status, 200, 'reads are served');

    rmSync(rest);
    rmSync(filler);
    await waitFor(
      async () => (await fetch(`${url}/readyz`)).status === 200,
      20_000,
      'ready once space returns',
    );
    assert.equal((await send(6_000)).status, 200, 'accepting again');
    assert.doesNotMatch(server.output(), /\n\s+at /, 'no stack trace');
  },
);
