import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { StartupRefusedError } from '../../errors.ts';

interface Holder {
  /** Set by a holder that closed its store: the lock is free. */
  released?: boolean;
  pid: number;
  host: string;
  /** The process's start time as the kernel counts it (Linux), so a reused pid is not taken for it. */
  started: string | null;
  at: string;
}

const LOCK_FILE = 'switchboard.lock';

/**
 * One writer on the embedded store: the first process to start on a data directory holds
 * `switchboard.lock` there until it closes the store. A second one refuses to start, naming the
 * directory and the holder; SQLite would let both write, and two dispatchers on one file would
 * deliver each queue twice, out of order. A lock left by a process that died (kill -9, power
 * loss) is taken over: the holder is checked to be alive, and to be the same process (its start
 * time), not another that got its pid.
 *
 * Returns the release, which marks the file free if it is still this process's. It is marked,
 * not removed, so its disk page stays the store's: a restart on a disk that filled up meanwhile
 * takes the lock over in place of the old one (unlink, then create on the page just freed)
 * instead of failing to create a file (issue 15: a crash loop on a full disk).
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(resolve(dataDir), LOCK_FILE);
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    started: startTime(process.pid),
    at: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(path);
      if (holder && isAlive(holder))
        throw new StartupRefusedError(
          `The data directory ${resolve(dataDir)} is in use by another Switchboard (pid ${holder.pid} on ${holder.host}, ` +
            `since ${holder.at}); stop it, or give this one another DATA_DIR`,
        );
      // Left by a process that is gone: take it over.
      try {
        unlinkSync(path);
      } catch {
        // Another starting process removed it first; try again.
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } catch (error) {
      // Not a single free page on the disk (a first start there): say so in one line.
      unlinkSync(path);
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC')
        throw new StartupRefusedError(
          `No space left on the disk of ${resolve(dataDir)} to write its lock file; free some space and start again`,
        );
      throw error;
    } finally {
      closeSync(fd);
    }
    return () => release(path, me);
  }
  throw new StartupRefusedError(`Could not take the lock ${path}: another process keeps taking it`);
}

/** Marks the lock free, in place (no new disk page needed), if it is still this process's. */
function release(path: string, me: Holder): void {
  const holder = readHolder(path);
  if (holder?.pid !== me.pid || holder.released) return;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r+');
    const text = JSON.stringify({ ...me, released: true });
    writeSync(fd, text, 0);
    ftruncateSync(fd, Buffer.byteLength(text));
  } catch {
    // Not marked: the next start sees a holder that is gone, and takes the lock over anyway.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readHolder(path: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

function isAlive(holder: Holder): boolean {
  if (holder.released) return false;
  if (holder.host !== hostname()) return true; // A shared volume: it cannot be checked from here.
  if (holder.pid === process.pid) return false; // Our own pid from a previous life (a container's pid 1).
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = startTime(holder.pid);
  return started === null || holder.started === null || started === holder.started;
}

/** Field 22 of /proc/<pid>/stat (after the command's closing parenthesis), or null off Linux. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
