import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RESERVE_FILE = 'switchboard.reserve';
/** Enough for SQLite to open: its shared-memory index (32 KB) and the first pages of a WAL. */
const RESERVE_BYTES = 1024 * 1024;

/**
 * Space a stopped store keeps for its next start (issue 15: a restart on a full disk). Closing
 * the database cleanly removes its WAL and shared-memory files; opening it again must create
 * them, which a disk that filled up meanwhile refuses ("disk I/O error"), and the process could
 * not even serve reads. So the store, once closed, takes the room its WAL gave back as this
 * file, and gives it back to SQLite just before opening. A store killed instead keeps its WAL
 * and shared-memory files, and needs no reserve.
 */
export function keepDiskReserve(dataDir: string): void {
  try {
    writeFileSync(join(dataDir, RESERVE_FILE), Buffer.alloc(RESERVE_BYTES));
  } catch {
    rmSync(join(dataDir, RESERVE_FILE), { force: true }); // No room even for that: nothing kept.
  }
}

/** Frees the reserve, just before the store opens. */
export function releaseDiskReserve(dataDir: string): void {
  rmSync(join(dataDir, RESERVE_FILE), { force: true });
}
