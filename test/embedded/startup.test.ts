import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, spawnServer, type ChildServer } from '../helpers/child-server.ts';
import { harnessConfig } from '../helpers/harness.ts';

/**
 * Start-up refusals an operator must be able to read: one line naming what to fix, exit code 1,
 * no stack trace (a supervisor would otherwise restart into the same trace forever).
 */

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-startup-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The config of a server on data directory `dataDir`, written under its own folder `name`. */
function configIn(name: string, dataDir: string): { folder: string; config: object } {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  const config = harnessConfig({ destinations: [{ id: 'app', url: 'http://127.0.0.1:9/x' }] }, { dataDir });
  return { folder, config: { ...config, server: { ...config.server, port: undefined, host: undefined } } };
}

function assertOneLine(child: ChildServer, pattern: RegExp): void {
  const output = child.output().trim();
  assert.match(output, pattern);
  assert.equal(output.split('\n').length, 1, `one line:\n${output}`);
  assert.doesNotMatch(output, /^\s+at /m, 'no stack trace');
}

test('a second process on the same data directory refuses to start; a lock left by a killed one is taken over', async () => {
  const dataDir = join(dir, 'shared-data');
  const first = configIn('first', dataDir);
  const second = configIn('second', dataDir);
  const running = await spawnServer(first.folder, first.config, await freePort());
  try {
    assert.equal(running.process.exitCode, null, running.output());
    const refused = await spawnServer(second.folder, second.config, await freePort());
    assert.equal(await refused.exited, 1);
    assertOneLine(
      refused,
      new RegExp(
        `data directory ${dataDir} is in use by another Switchboard \\(pid ${running.process.pid} on `,
      ),
    );
  } finally {
    running.process.kill('SIGKILL');
    await running.exited;
  }
  // The killed process left its lock behind; it is dead, so the next one starts.
  const next = await spawnServer(second.folder, second.config, await freePort());
  try {
    assert.equal(next.process.exitCode, null, next.output());
  } finally {
    next.process.kill('SIGTERM');
    assert.equal(await next.exited, 0);
  }
});

test('a port already in use: one line naming the port', async () => {
  // Whatever connects is dropped at once (a listener that holds connections would hold close()).
  const taken = createServer((socket) => socket.destroy());
  const port = await freePort();
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
  try {
    const { folder, config } = configIn('port', join(dir, 'port-data'));
    const child = await spawnServer(folder, config, port);
    assert.equal(await child.exited, 1);
    assertOneLine(child, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test('a database migrated by a newer release: this one refuses to start, saying so', async () => {
  const dataDir = join(dir, 'newer-data');
  const { folder, config } = configIn('newer', dataDir);
  const first = await spawnServer(folder, config, await freePort());
  first.process.kill('SIGTERM');
  assert.equal(await first.exited, 0, first.output());
  const db = new DatabaseSync(join(dataDir, 'switchboard.db'));
  db.exec(`INSERT INTO schema_migrations (id, name) VALUES (9999, 'from the future')`);
  db.close();
  const child = await spawnServer(folder, config, await freePort());
  assert.equal(await child.exited, 1);
  assertOneLine(child, /has schema version 9999, newer than this Switchboard knows \(\d+\)/);
});
