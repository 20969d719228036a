import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small real disk for full-disk tests and the chaos scenario: a tmpfs of `sizeMb` mounted on
 * a fresh folder (mounting needs root, as CI has). `remove` unmounts it and deletes the folder.
 */
export function mountTmpfs(name: string, sizeMb: number): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `switchboard-${name}-`));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', path]);
  return {
    path,
    remove: () => {
      execFileSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Takes what is left of the disk, to its last page, into `file` (delete it to give it back). */
export function fillToLastPage(file: string): void {
  try {
    for (;;) appendFileSync(file, Buffer.alloc(4096));
  } catch {
    // ENOSPC: full to the last page.
  }
}
