import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lockDataDir } from '../../src/store/sqlite/data-dir-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const lockFile = (name: string): string => join(dir, name, 'switchboard.lock');

function holderFile(name: string, holder: Record<string, unknown>): void {
  lockDataDir(join(dir, name))(); // creates the folder
  writeFileSync(lockFile(name), JSON.stringify({ host: hostname(), at: 'then', ...holder }));
}

test('the lock is held until released, and then free again', () => {
  const release = lockDataDir(join(dir, 'a'));
  assert.equal(JSON.parse(readFileSync(lockFile('a'), 'utf8')).pid, process.pid);
  release();
  // Marked free in place, not removed: its disk page stays the store's for the next start.
  assert.equal(JSON.parse(readFileSync(lockFile('a'), 'utf8')).released, true);
  release(); // twice: harmless
  lockDataDir(join(dir, 'a'))();
});

test('a live process holding it: refused, naming the directory and the process', async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  try {
    await new Promise((resolve) => other.once('spawn', resolve));
    const started = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
    const startTime = started.slice(started.lastIndexOf(')') + 2).split(' ')[19];
    holderFile('b', { pid: other.pid, started: startTime });
    assert.throws(() => lockDataDir(join(dir, 'b')), {
      name: 'StartupRefusedError',
      message: new RegExp(
        `data directory ${join(dir, 'b')} is in use by another Switchboard \\(pid ${other.pid}`,
      ),
    });
    // The same pid with another start time is another process that reused it: taken over.
    holderFile('c', { pid: other.pid, started: '1' });
    lockDataDir(join(dir, 'c'))();
    // A live process that released it (closed its store, still stopping): taken over.
    holderFile('g', { pid: other.pid, started: startTime, released: true });
    lockDataDir(join(dir, 'g'))();
  } finally {
    other.kill();
  }
});

test('left by a dead process, by this very pid in an earlier life, or unreadable: taken over', () => {
  holderFile('d', { pid: 2 ** 22 + 12345, started: null });
  lockDataDir(join(dir, 'd'))();
  holderFile('e', { pid: process.pid, started: '1' });
  lockDataDir(join(dir, 'e'))();
  lockDataDir(join(dir, 'f'))();
  writeFileSync(lockFile('f'), 'not json');
  lockDataDir(join(dir, 'f'))();
});

/** A child process that takes the lock on `name` and says so, then holds it until killed. */
function holder(name: string): { child: ReturnType<typeof spawn>; outcome: Promise<string> } {
  const module = join(import.meta.dirname, '../../src/store/sqlite/data-dir-lock.ts');
  const child = spawn(process.execPath, [
    '--input-type=module',
    '-e',
    `import { lockDataDir } from ${JSON.stringify(module)};
     try { lockDataDir(${JSON.stringify(join(dir, name))}); console.log('held'); }
     catch (error) { console.log('refused: ' + error.message); }
     setTimeout(() => {}, 30000);`,
  ]);
  const outcome = new Promise<string>((resolve) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.trim());
    });
    child.once('exit', () => resolve(text.trim() || 'exited'));
  });
  return { child, outcome };
}

test('the operating system holds the lock: a live holder refuses others; killed -9, it is free at once', async () => {
  const first = holder('h');
  try {
    assert.equal(await first.outcome, 'held');
    assert.throws(() => lockDataDir(join(dir, 'h')), {
      name: 'StartupRefusedError',
      message: new RegExp(`in use by another Switchboard \\(pid ${first.child.pid}`),
    });
  } finally {
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
  }
  lockDataDir(join(dir, 'h'))(); // its details say "not released", but it is gone
});

test('processes starting at the same moment: exactly one holds the lock', async () => {
  for (let round = 0; round < 5; round++) {
    if (round > 0) writeFileSync(lockFile('race'), JSON.stringify({ pid: 1, released: true }));
    const starters = [holder('race'), holder('race'), holder('race')];
    try {
      const outcomes = await Promise.all(starters.map((s) => s.outcome));
      assert.equal(outcomes.filter((o) => o === 'held').length, 1, outcomes.join(' | '));
    } finally {
      for (const s of starters) s.child.kill('SIGKILL');
      await Promise.all(starters.map((s) => new Promise((resolve) => s.child.once('exit', resolve))));
    }
  }
});
