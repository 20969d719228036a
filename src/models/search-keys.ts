/**
 * Search keys: the identifiers a message can be found by in the log search (`q`), extracted
 * when it is accepted and stored in an indexed table, so that finding a patient's messages is
 * an index lookup however long the history (docs/design.md, "Log search"). Keys are compared
 * case-insensitively, exactly or by prefix.
 *
 * - Data Model payloads: every `Identifiers[].ID` at any depth (patients, providers, insurance
 *   holders, ...), and the `ID`, `DocumentID`, `VisitNumber` and `AccountNumber` of each
 *   top-level object and of each item of a top-level array (`Visit.VisitNumber`,
 *   `Orders[].ID`, `Order.ID`, `Document.ID`, `Note.DocumentID`, `Device.ID`, ...). `Meta` is not
 *   searched: its IDs are Switchboard's own and have their own filters.
 * - FHIR resources (a Bundle's entries included): every `identifier[].value`, and the `id` of
 *   every resource.
 * - FHIR queries: the values of the search parameters (both halves of `system|code`), the
 *   `_id`, and the id of a read.
 */

/** At most this many keys per message; the rest is found by a payload search. */
export const MAX_SEARCH_KEYS = 32;
/** A longer value is not an identifier; it is not a key. */
export const MAX_SEARCH_KEY_LENGTH = 128;
/** The walk of one payload stops after this many values: the keys are near the top. */
const MAX_NODES = 20_000;
const MAX_DEPTH = 12;

const TOP_LEVEL_KEY_FIELDS = ['ID', 'DocumentID', 'VisitNumber', 'AccountNumber'];

/** The form keys are stored and searched in. */
export function normalizeSearchKey(value: string): string {
  return value.trim().toLowerCase();
}

class KeySet {
  readonly #keys = new Set<string>();

  add(value: unknown): void {
    if (this.#keys.size >= MAX_SEARCH_KEYS) return;
    if (typeof value !== 'string' && typeof value !== 'number') return;
    const key = normalizeSearchKey(String(value));
    if (key.length > 0 && key.length <= MAX_SEARCH_KEY_LENGTH) this.#keys.add(key);
  }

  get list(): string[] {
    return [...this.#keys];
  }
}

type Visit = (node: Record<string, unknown>, keys: KeySet) => void;

/** Calls `visit` on every object under `root`, depth-first, within the node and depth bounds. */
function walk(root: unknown, keys: KeySet, visit: Visit): void {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  let nodes = 0;
  for (let next = stack.pop(); next && nodes++ < MAX_NODES; next = stack.pop()) {
    const { node, depth } = next;
    if (typeof node !== 'object' || node === null || depth > MAX_DEPTH) continue;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ node: node[i], depth: depth + 1 });
      continue;
    }
    const object = node as Record<string, unknown>;
    visit(object, keys);
    for (const value of Object.values(object))
      if (typeof value === 'object' && value !== null) stack.push({ node: value, depth: depth + 1 });
  }
}

function items(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

function field(object: unknown, name: string): unknown {
  return typeof object === 'object' && object !== null
    ? (object as Record<string, unknown>)[name]
    : undefined;
}

/** The search keys of a Redox data model payload. */
export function dataModelSearchKeys(payload: unknown): string[] {
  const keys = new KeySet();
  if (typeof payload !== 'object' || payload === null) return keys.list;
  for (const [name, value] of Object.entries(payload)) {
    if (name === 'Meta') continue;
    for (const item of items(value)) for (const key of TOP_LEVEL_KEY_FIELDS) keys.add(field(item, key));
    walk(value, keys, (object) => {
      for (const identifier of items(object.Identifiers)) keys.add(field(identifier, 'ID'));
    });
  }
  return keys.list;
}

/** The search keys of a FHIR resource, the resources of a Bundle included. */
export function fhirSearchKeys(resource: unknown): string[] {
  const keys = new KeySet();
  walk(resource, keys, (object, found) => {
    if (typeof object.resourceType === 'string') found.add(object.id);
    for (const identifier of items(object.identifier)) found.add(field(identifier, 'value'));
  });
  return keys.list;
}

/** Parameters that shape a FHIR search's answer rather than naming what it looks for. */
const RESULT_PARAMETERS = /^_(?!id$)/;

/**
 * The search keys of a FHIR query: its search parameters' values (from the query string and a
 * form body) and, for a read, the resource id.
 */
export function fhirQuerySearchKeys(query: { search: string; body?: string; id?: string }): string[] {
  const keys = new KeySet();
  keys.add(query.id);
  for (const text of [query.search, query.body ?? '']) {
    let params: URLSearchParams;
    try {
      params = new URLSearchParams(text);
    } catch {
      continue;
    }
    for (const [name, value] of params) {
      if (RESULT_PARAMETERS.test(name)) continue;
      for (const token of value.split(',')) {
        keys.add(token);
        const bar = token.indexOf('|');
        if (bar >= 0) keys.add(token.slice(bar + 1));
      }
    }
  }
  return keys.list;
}

/** A FHIR resource written through (create, update): its id and its identifiers' values. */
export function fhirResourceSearchKeys(resource: unknown): string[] {
  const keys = new KeySet();
  walk(resource, keys, (node, found) => {
    if (typeof node.resourceType === 'string') found.add(node.id);
    if (Array.isArray(node.identifier))
      for (const identifier of node.identifier as unknown[])
        if (identifier && typeof identifier === 'object')
          found.add((identifier as { value?: unknown }).value);
  });
  return keys.list;
}
