import { jsonpath, type JSONPathQuery } from 'json-p3';

/**
 * Ordering keys (SPEC 5.2): an RFC 9535 JSONPath into the payload, evaluated once when the
 * message is accepted, with json-p3 (a parser, never `eval`). The key is the first value the
 * path selects when it is a string, a number or a boolean; anything else, or nothing, is the
 * key `""`, which all such logs share.
 */

/** Keys longer than this are cut: a key is for grouping, not for carrying data. */
export const MAX_ORDERING_KEY_LENGTH = 256;

const compiled = new Map<string, JSONPathQuery>();

function query(path: string): JSONPathQuery {
  let q = compiled.get(path);
  if (!q) {
    q = jsonpath.compile(path);
    compiled.set(path, q);
  }
  return q;
}

/** Whether `path` is a valid JSONPath (the config and API refuse one that is not). */
export function isOrderingKeyPath(path: string): boolean {
  try {
    query(path);
    return true;
  } catch {
    return false;
  }
}

export function orderingKeyOf(path: string, payload: unknown): string {
  let value: unknown;
  try {
    // A payload is JSON, which is what json-p3 queries.
    value = query(path)
      .query(payload as Parameters<JSONPathQuery['query']>[0])
      .values()[0];
  } catch {
    return '';
  }
  if (typeof value === 'string') return value.slice(0, MAX_ORDERING_KEY_LENGTH);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}
