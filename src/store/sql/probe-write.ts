import { randomBytes } from 'node:crypto';

/**
 * The readiness probe's write (`StoreLifecycle.probeWrite`): one settings row, rewritten with 16
 * KB of fresh bytes, so it needs new pages the way a stored message does, not only a page the
 * journal already has room for.
 */
export const PROBE_WRITE = `INSERT INTO settings (key, value) VALUES ('write_probe', :value)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value`;

export function probeValue(): string {
  return randomBytes(12 * 1024).toString('base64');
}
