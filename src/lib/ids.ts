import { v7 } from 'uuid';

/**
 * IDs of stored rows (logs, attempts, alerts): UUIDv7, so they sort by creation time. Rows are
 * then inserted at the right edge of their ID indexes instead of at random places, which keeps
 * the pages each commit writes (and fsyncs) few. Still a UUID to every client.
 */
export function newId(): string {
  return v7();
}
