import { statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreUnavailableError } from '../../errors.ts';

/**
 * The free space below which the embedded store refuses new messages (issue 15: a full disk):
 * `server.diskFreeLimitBytes`, but at most a twentieth of the disk, so a small volume is not
 * refused outright; plus the WAL file's size, since copying what it holds into the database file
 * (the checkpoint) can grow that file by up to as much. 0 turns the guard off. Pure, so the policy
 * is tested without a disk.
 */
export function diskFloorBytes(limitBytes: number, diskBytes: number, walBytes: number): number {
  if (limitBytes <= 0) return 0;
  return Math.min(limitBytes, Math.floor(diskBytes / 20)) + walBytes;
}

/**
 * How long one reading of the disk's free space is trusted, and for how many bytes written: a
 * statfs per small message is a syscall for nothing, but large ones fill a disk fast.
 */
const READING_MS = 250;
const READING_BYTES = 256 * 1024;

export interface DiskReading {
  freeBytes: number;
  diskBytes: number;
  walBytes: number;
}

/**
 * Refuses new messages while the data directory's disk has less free space than the floor, as
 * RabbitMQ's disk alarm blocks publishers: the room left keeps the rest working, so delivery can
 * still record its attempts and drain the queues, retention can purge, and the checkpointer can
 * move the WAL into the database file (without room for that, a disk filled to its last page
 * holds the store's data in the WAL, and freeing less than the WAL holds never brings it back).
 * Refusals are storage-unavailable errors: 503 with Retry-After, and `/readyz` 503 with the
 * reason, until space returns. Once refusing, and at start-up, it wants a quarter more than the
 * floor free before it takes messages again, so that a disk at the edge does not flap between
 * ready and not (a small probe write fitting where a message does not).
 */
export class DiskGuard {
  readonly #dir: string;
  readonly #databasePath: string;
  readonly #limitBytes: number;
  readonly #read: (databasePath: string) => DiskReading;
  readonly #now: () => number;
  #reading: { at: number; value: DiskReading; bytesSince: number } | undefined;
  #refusing = true;

  /** `read` and `now` (monotonic ms) are the disk and the clock; tests give their own. */
  constructor(
    databasePath: string,
    limitBytes: number,
    read: (databasePath: string) => DiskReading = readDisk,
    now: () => number = () => performance.now(),
  ) {
    this.#dir = dirname(databasePath);
    this.#databasePath = databasePath;
    this.#limitBytes = limitBytes;
    this.#read = read;
    this.#now = now;
  }

  /** Throws when a new message of `bytes` must be refused for lack of space. */
  check(bytes: number): void {
    if (this.#limitBytes <= 0) return;
    const now = this.#now();
    const last = this.#reading;
    if (!last || now - last.at >= READING_MS || last.bytesSince >= READING_BYTES) {
      try {
        this.#reading = { at: now, value: this.#read(this.#databasePath), bytesSince: 0 };
      } catch {
        return; // No reading (an unusual filesystem): the disk's own ENOSPC still answers.
      }
    }
    const reading = this.#reading!;
    const { freeBytes, diskBytes, walBytes } = reading.value;
    // What was written since the reading is not in it: counted against the free space. The
    // state (refusing or not) follows the disk alone; a message too big for the room left is
    // refused without turning the guard against the small ones after it.
    const base = diskFloorBytes(this.#limitBytes, diskBytes, walBytes);
    const free = freeBytes - reading.bytesSince;
    this.#refusing = free < (this.#refusing ? base * 1.25 : base);
    const floor = (this.#refusing ? base * 1.25 : base) + bytes;
    if (free < floor)
      throw new StoreUnavailableError(
        `the disk of ${this.#dir} is nearly full (${mb(free)} free, under the ${mb(floor)} kept free ` +
          'for deliveries and for moving the WAL into the database); new messages are refused until space is freed',
      );
    reading.bytesSince += bytes;
  }
}

function readDisk(databasePath: string): DiskReading {
  const disk = statfsSync(dirname(databasePath));
  const wal = statSync(`${databasePath}-wal`, { throwIfNoEntry: false });
  return {
    freeBytes: disk.bavail * disk.bsize,
    diskBytes: disk.blocks * disk.bsize,
    walBytes: wal?.size ?? 0,
  };
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
