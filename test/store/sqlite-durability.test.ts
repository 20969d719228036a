import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { openWorkerStore } from '../../src/store/sqlite/worker-store.ts';
import type { NewMessage } from '../../src/store/roles/intake-store.ts';
import { catalog, message as storeMessage } from './contract.ts';

/**
 * The durability settings of the embedded store (SPEC: durable before 200): WAL, synchronous=FULL,
 * and group commit, observed from outside the store: its own connection's pragmas, and the
 * commit frames its transactions leave in the WAL file.
 */

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-durability-'));
  path = join(dir, 'switchboard.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Builds a SqliteStore and returns it with its own connection: the connection is caught on its
 * first `exec` (the pragmas of the constructor), so nothing is exposed by the store for tests.
 */
function openWithConnection(file: string): { store: SqliteStore; db: DatabaseSync } {
  const exec = Object.getOwnPropertyDescriptor(DatabaseSync.prototype, 'exec')!;
  const seen = new Set<DatabaseSync>();
  DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
    seen.add(this);
    return (exec.value as DatabaseSync['exec']).call(this, sql);
  };
  try {
    const store = new SqliteStore(file, { checkpoints: 'external' });
    assert.equal(seen.size, 1, "the store's one connection was seen");
    const db = [...seen][0]!;
    return { store, db };
  } finally {
    Object.defineProperty(DatabaseSync.prototype, 'exec', exec);
  }
}

function pragma(db: DatabaseSync, name: string): unknown {
  return Object.values(db.prepare(`PRAGMA ${name}`).get()!)[0];
}

/**
 * The commits recorded in the WAL's current generation: frames whose salts equal the header's
 * and whose "database size after commit" field is set. Every transaction that commits writes
 * exactly one such frame. A checkpoint that copied the whole WAL lets the next commit start the
 * WAL over with new salts, a new generation.
 */
function walCommits(file: string): { generation: string; commits: number } {
  const wal = readFileSync(`${file}-wal`);
  if (wal.length < 32) return { generation: '', commits: 0 };
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return { generation: `${salt1}:${salt2}`, commits };
}

/** Commits since `before` (a reading of walCommits), across a restart of the WAL. */
function commitsSince(file: string, before: { generation: string; commits: number }): number {
  const now = walCommits(file);
  return now.generation === before.generation ? now.commits - before.commits : now.commits;
}

const message = (n: number): NewMessage =>
  storeMessage(['app'], { payload: JSON.stringify({ n }), receivedAt: 1 });

test('the store connection runs with journal_mode=WAL and synchronous=FULL', async () => {
  const { store, db } = openWithConnection(path);
  try {
    await store.migrate();
    assert.equal(pragma(db, 'journal_mode'), 'wal');
    // 2 = FULL: a commit returns only once the WAL is fsynced (NORMAL, 1, would not fsync it).
    assert.equal(pragma(db, 'synchronous'), 2, 'synchronous=FULL');
  } finally {
    await store.close();
  }
});

test('the server store (in its worker thread) leaves the database file in WAL mode', async () => {
  const store = openWorkerStore(path);
  await store.migrate();
  await store.close();
  // WAL mode is a property of the file: any connection opening it sees it.
  const other = new DatabaseSync(path);
  try {
    assert.equal(pragma(other, 'journal_mode'), 'wal');
  } finally {
    other.close();
  }
});

test('group commit: writes issued in one turn of the event loop share one commit', async () => {
  const { store } = openWithConnection(path);
  try {
    await store.migrate();
    await store.catalog.syncCatalog(catalog());

    // One at a time: one commit each (this is what the counter sees for separate transactions).
    // Nothing checkpoints this store (`checkpoints: 'external'`), so the WAL only grows.
    const before = walCommits(path);
    for (let n = 0; n < 5; n++) await store.intake.acceptMessage(message(n));
    assert.equal(commitsSince(path, before), 5, 'writes awaited one by one commit one by one');

    // Twenty in one turn of the event loop: one transaction, one commit, one fsync.
    const start = walCommits(path);
    const accepted = await Promise.all(
      Array.from({ length: 20 }, (_, n) => store.intake.acceptMessage(message(n))),
    );
    assert.equal(commitsSince(path, start), 1, 'twenty concurrent writes share one commit');
    const ids = accepted.map((a) => (a.kind === 'accepted' ? a.messageId : a.kind));
    assert.equal(new Set(ids).size, 20, 'each write was stored as its own message');
  } finally {
    await store.close();
  }
});

test('group commit through the worker thread the server uses: one turn of calls, one commit', async () => {
  const store = openWorkerStore(path);
  try {
    await store.migrate();
    await store.catalog.syncCatalog(catalog());
    await store.intake.acceptMessage(message(0));
    // The checkpointer thread may start the WAL over meanwhile; commitsSince counts across that.
    const start = walCommits(path);
    await Promise.all(Array.from({ length: 20 }, (_, n) => store.intake.acceptMessage(message(n))));
    assert.equal(commitsSince(path, start), 1, 'twenty concurrent writes share one commit');
  } finally {
    await store.close();
  }
});
