import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { StartupRefusedError } from '../../errors.ts';

const SQLITE_BUSY = 5;

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
const OS_LOCK_FILE = 'switchboard.lock.db';

/**
 * One writer on the embedded store: the first process to start on a data directory holds it
 * until it closes the store. A second one refuses to start, naming the directory and the
 * holder; SQLite would let both write, and two dispatchers on one file would deliver each queue
 * twice, out of order.
 *
 * The lock itself is the operating system's: an exclusive SQLite lock on `switchboard.lock.db`
 * (an empty database file), which the kernel drops when the process dies, however it dies, so a
 * crashed holder never blocks a start and two starting processes can never both win (a lock
 * file that starters judge stale and replace could, in the window between the read and the
 * replace). `switchboard.lock` says who holds it (pid, host, start time), for the refusal's
 * message and for a process of an earlier release, which only wrote that file: one alive and
 * not marked released is still taken for a holder. Writing the details is best effort (a full
 * disk), and a stopping process marks them released in place.
 *
 * Returns the release.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const dir = resolve(dataDir);
  const path = join(dir, LOCK_FILE);
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    started: startTime(process.pid),
    at: new Date().toISOString(),
  };
  const refuse = (holder: Holder | undefined): StartupRefusedError =>
    new StartupRefusedError(
      `The data directory ${dir} is in use by another Switchboard` +
        (holder ? ` (pid ${holder.pid} on ${holder.host}, since ${holder.at})` : '') +
        '; stop it, or give this one another DATA_DIR',
    );
  const osLock = new DatabaseSync(join(dir, OS_LOCK_FILE));
  try {
    // Exclusive and kept: no other connection, in this process or another, can take it. No
    // journal file: taking the lock then writes nothing, so it works on a full disk.
    osLock.exec('PRAGMA journal_mode = MEMORY; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE');
  } catch (error) {
    osLock.close();
    if ((error as { errcode?: number }).errcode === SQLITE_BUSY) throw refuse(readHolder(path));
    throw error;
  }
  const earlier = readHolder(path);
  if (earlier && !earlier.released && isAlive(earlier)) {
    osLock.close();
    throw refuse(earlier); // a process of an earlier release, which took no OS lock
  }
  writeDetails(path, me);
  let held = true;
  return () => {
    // Once: a store closed twice (after its thread failed, say) releases once.
    if (!held) return;
    held = false;
    writeDetails(path, { ...me, released: true });
    osLock.close();
  };
}

/** The holder's details, written in place (best effort: the lock does not depend on them). */
function writeDetails(path: string, holder: Holder): void {
  let fd: number | undefined;
  try {
    fd = openExisting(path) ?? openSync(path, 'w');
    const text = JSON.stringify(holder);
    writeSync(fd, text, 0);
    ftruncateSync(fd, Buffer.byteLength(text));
  } catch {
    // No room to write them (a full disk): a refusal then names no holder.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The file opened for writing in place (`r+`, not appending), or undefined if it is not there. */
function openExisting(path: string): number | undefined {
  try {
    return openSync(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
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
