import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteDatabase } from '../../src/store/sqlite/sqlite-database.ts';

test('a failed batch is replayed op by op, and no caller reads inside another op’s transaction', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-group-commit-'));
  const db = new SqliteDatabase(join(dir, 'test.db'));
  try {
    await db.write('CREATE TABLE t (v INTEGER)');
    // One turn of the event loop: a write whose caller reads as soon as it resolves, a write
    // that fails (the batch is rolled back and replayed op by op), and an async one after it.
    const first = db.write('INSERT INTO t (v) VALUES (1)').then(() => db.all('SELECT v FROM t'));
    const failing = db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (v) VALUES (2)');
      throw new Error('refused');
    });
    const last = db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (v) VALUES (3)');
      return tx.get<{ n: number }>('SELECT count(*) AS n FROM t');
    });
    const [read, refused, counted] = await Promise.allSettled([first, failing, last]);
    assert.equal(read.status, 'fulfilled', String((read as PromiseRejectedResult).reason));
    assert.equal(refused.status, 'rejected');
    assert.equal(counted.status, 'fulfilled');
    assert.deepEqual(
      (await db.all<{ v: number }>('SELECT v FROM t ORDER BY v')).map((r) => r.v),
      [1, 3],
    );
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
