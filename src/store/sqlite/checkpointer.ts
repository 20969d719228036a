// The embedded store's checkpointer thread. The writer (store-worker.ts) never checkpoints: copying
// WAL pages into the database file and fsyncing it would stall its commits, and with them every
// 200 and every delivery. This thread's own connection does PASSIVE checkpoints instead, which
// never block the writer; once one has copied the whole WAL, the writer starts it over at its next
// commit, so the WAL stays small.
//
// A checkpoint runs every `intervalMs`, and sooner once the WAL file has grown by WAL_GROWTH since
// the last one: a burst of writes is then moved into the database file a few megabytes at a time,
// not a second's worth at once. What the WAL holds is what a checkpoint may still need room for
// on the disk, which the disk guard keeps free (disk-guard.ts; issue 15: a burst left 12 MB in the
// WAL of a 16 MB disk, and freeing 4 MB never brought the store back).
import { statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const WAL_GROWTH = 4 * 1024 * 1024;
const TICK_MS = Math.min(100, intervalMs);

const db = new DatabaseSync(path);
db.exec('PRAGMA synchronous = FULL; PRAGMA busy_timeout = 1000;');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

const walBytes = (): number => statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
let sizeAtLast = walBytes();
let lastAt = performance.now();

const timer = setInterval(() => {
  if (walBytes() - sizeAtLast < WAL_GROWTH && performance.now() - lastAt < intervalMs) return;
  try {
    checkpoint.get();
  } catch {
    // Busy, interrupted or out of space: the next round tries again; the WAL only grows meanwhile.
  }
  sizeAtLast = walBytes();
  lastAt = performance.now();
}, TICK_MS);

parentPort?.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  try {
    checkpoint.get();
  } finally {
    db.close();
    parentPort?.postMessage('stopped');
  }
});
