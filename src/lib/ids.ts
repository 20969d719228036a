import { randomUUID } from 'node:crypto';

/**
 * IDs of stored rows (logs, attempts, alerts): UUIDv7 (RFC 9562), so they sort by creation
 * time. Rows are then inserted at the right edge of their ID indexes instead of at random
 * places, which keeps the pages each commit writes (and fsyncs) few. Still a UUID to clients.
 *
 * The random bits come from `randomUUID()`, which draws from a pooled entropy cache; the 48-bit
 * millisecond timestamp and the version nibble replace its first 13 hex digits. Its variant
 * bits are already those of RFC 9562.
 */
export function newId(): string {
  const now = Date.now();
  if (now !== prefixMs) {
    // Most IDs share their millisecond with the one before: the prefix is built once for it.
    const time = now.toString(16).padStart(12, '0');
    prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-7`;
    prefixMs = now;
  }
  return prefix + randomUUID().slice(15);
}

let prefixMs = -1;
let prefix = '';
