import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiskGuard, diskFloorBytes, type DiskReading } from '../../src/store/sqlite/disk-guard.ts';

/** The disk guard's policy (store/sqlite/disk-guard.ts), on readings given to it: no disk. */

const MB = 1024 * 1024;

test('the floor: the limit, at most a twentieth of the disk, plus the WAL; 0 turns it off', () => {
  assert.equal(diskFloorBytes(64 * MB, 100 * 1024 * MB, 0), 64 * MB);
  assert.equal(diskFloorBytes(64 * MB, 100 * MB, 0), 5 * MB, 'a small disk is not refused outright');
  assert.equal(diskFloorBytes(64 * MB, 100 * 1024 * MB, 3 * MB), 67 * MB, 'room to checkpoint the WAL');
  assert.equal(diskFloorBytes(0, 100 * MB, 3 * MB), 0);
});

test('refuses below the floor with a message saying why; reads the disk again for bytes written', () => {
  let reading: DiskReading = { freeBytes: 10 * MB, diskBytes: 1024 * MB, walBytes: 1 * MB };
  let reads = 0;
  const guard = new DiskGuard('/data/switchboard.db', 4 * MB, () => {
    reads++;
    return reading;
  });
  guard.check(1024);
  assert.equal(reads, 1);
  guard.check(1024);
  assert.equal(reads, 1, 'small writes go by one reading');
  // A message too big for the room left is refused, with why; the small ones after it are not.
  assert.throws(() => guard.check(6 * MB), {
    name: 'StoreUnavailableError',
    message: /disk of \/data is nearly full \(10\.0 MB free, under the 11\.0 MB kept free/,
  });
  guard.check(1024);
  // Writes since the reading count against the free space, and 256 KB of them call for a new one.
  guard.check(3 * MB);
  assert.equal(reads, 1);
  reading = { freeBytes: 3 * MB, diskBytes: 1024 * MB, walBytes: 0 };
  assert.throws(() => guard.check(0), /nearly full/, 'read again: 3 MB were written since');
  assert.equal(reads, 2);
});

test('once refusing (and at start-up) it wants a quarter more than the floor back: no flapping at the edge', () => {
  let freeBytes = 4.5 * MB;
  let clock = 0;
  const guard = new DiskGuard(
    '/data/switchboard.db',
    4 * MB,
    () => ({ freeBytes, diskBytes: 1024 * MB, walBytes: 0 }),
    () => (clock += 300), // a reading of its own for each check
  );
  assert.throws(() => guard.check(0), /nearly full/, 'at start-up: 4.5 MB free is under 5 MB');
  freeBytes = 5.5 * MB;
  guard.check(0);
  freeBytes = 4.5 * MB;
  guard.check(300 * 1024); // over 4 MB with what it writes: taken
  freeBytes = 3.9 * MB;
  assert.throws(() => guard.check(0), /nearly full/);
  freeBytes = 4.5 * MB;
  assert.throws(
    () => guard.check(300 * 1024),
    /under the 5\.3 MB kept free/,
    'refusing: 5 MB + what was written',
  );
});

test('off at 0, and without a reading (an unusual filesystem) it lets the disk itself answer', () => {
  new DiskGuard('/data/x.db', 0, () => ({ freeBytes: 0, diskBytes: MB, walBytes: 0 })).check(MB);
  new DiskGuard('/data/x.db', MB, () => {
    throw new Error('ENOSYS');
  }).check(MB);
});
