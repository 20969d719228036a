// The embedded store's checkpointer thread. The writer (store-worker.ts) never checkpoints: copying
// WAL pages into the database file and fsyncing it would stall its commits, and with them every
// 200 and every delivery. This thread's own connection does PASSIVE checkpoints instead, which
// never block the writer; once one has copied the whole WAL, the writer starts it over at its next
// commit, so the WAL stays small.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new DatabaseSync(path);
db.exec('PRAGMA synchronous = FULL; PRAGMA busy_timeout = 1000;');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch {
    // Busy or interrupted: the next round tries again; the WAL only grows meanwhile.
  }
}, intervalMs);

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
