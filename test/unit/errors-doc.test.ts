import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERRORS } from '../../src/errors.ts';

test('docs/errors.md lists every catalogue entry with its ID, status and module', () => {
  const doc = readFileSync(join(import.meta.dirname, '../../docs/errors.md'), 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length > 5 && /^[A-Z_]+$/.test(cells[1] ?? '')) rows.set(cells[1]!, cells.slice(2, 5));
  }
  for (const [code, entry] of Object.entries(ERRORS))
    assert.deepEqual(
      rows.get(code),
      [String(entry.id), String(entry.status), entry.module],
      `row for ${code}`,
    );
  assert.equal(rows.size, Object.keys(ERRORS).length, 'no documented code missing from the catalogue');
  const ids = Object.values(ERRORS).map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'IDs are unique');
});
