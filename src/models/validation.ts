import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * Redox data model validation (SPEC 2.2): which fields a model's event requires, and their JSON
 * types, from the committed catalogue (`catalogue/redox-data-models.json`, generated from the
 * public schemas). Each model and event is compiled by ajv once, on first use. Fields the
 * catalogue does not know pass; problems are answered in Redox's words, at most 20.
 */

interface Node {
  t?: string[];
  p?: Record<string, Node>;
  i?: Node;
  r?: string[];
}

const CATALOGUE = JSON.parse(
  readFileSync(join(import.meta.dirname, 'catalogue', 'redox-data-models.json'), 'utf8'),
) as { models: Record<string, Record<string, Node>> };

export const MAX_PROBLEMS = 20;

const eventKey = (name: string): string => name.replace(/[\s_]+/g, '').toLowerCase();
const events = new Map<string, Map<string, string>>(
  Object.entries(CATALOGUE.models).map(([model, byEvent]) => [
    model,
    new Map(Object.keys(byEvent).map((event) => [eventKey(event), event])),
  ]),
);

/** The event types the catalogue has for a (canonical) data model. */
export function eventTypesOf(model: string): string[] {
  return [...(events.get(model)?.values() ?? [])];
}

/** The catalogue's spelling of an event type of the model, or undefined when it has none such. */
export function canonicalEventType(model: string, eventType: string): string | undefined {
  return events.get(model)?.get(eventKey(eventType));
}

function toSchema(node: Node): Record<string, unknown> {
  const schema: Record<string, unknown> = {};
  if (node.t) schema.type = node.t.length === 1 ? node.t[0] : node.t;
  if (node.p)
    schema.properties = Object.fromEntries(Object.entries(node.p).map(([k, v]) => [k, toSchema(v)]));
  if (node.i) schema.items = toSchema(node.i);
  if (node.r) schema.required = node.r;
  return schema;
}

// verbose: a `required` error then carries its schema, to name the missing object's own fields.
const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false, verbose: true });
const compiled = new Map<string, ValidateFunction>();

function validatorFor(model: string, event: string): ValidateFunction | undefined {
  const id = `${model}:${event}`;
  let validate = compiled.get(id);
  if (!validate) {
    const node = CATALOGUE.models[model]?.[event];
    if (!node) return undefined;
    validate = ajv.compile(toSchema(node));
    compiled.set(id, validate);
  }
  return validate;
}

/** `/Observations/0/Code` -> `Observations[0].Code` (JSON Pointer to Redox's path). */
function redoxPath(pointer: string, child?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  return parts.reduce(
    (path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part),
    '',
  );
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  required?: string[];
}

/**
 * A missing object is reported by the fields it requires, as Redox does: no `Device` at all is
 * `Device.ID` missing in Device:New. Arrays and plain values are reported by their own path.
 */
function missingLeaves(schema: SchemaNode | undefined, path: string): string[] {
  if (!schema?.required?.length || !schema.properties) return [path];
  return schema.required.flatMap((field) => missingLeaves(schema.properties?.[field], `${path}.${field}`));
}

function describe(error: ErrorObject, where: string): string[] {
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    const schema = (error.parentSchema as SchemaNode | undefined)?.properties?.[missing];
    return missingLeaves(schema, redoxPath(error.instancePath, missing)).map(
      (path) => `Required field missing - ${path} in ${where}`,
    );
  }
  if (error.keyword === 'type')
    return [`Invalid value - ${redoxPath(error.instancePath) || '(root)'} in ${where}`];
  return [];
}

export type ValidationResult =
  | { kind: 'valid' }
  | { kind: 'unknown_event'; eventTypes: string[] }
  | { kind: 'invalid'; problems: string[] };

/** Checks a payload against its (canonical) data model and its event type. Pure. */
export function validatePayload(payload: unknown, model: string, eventType: string): ValidationResult {
  const event = canonicalEventType(model, eventType);
  const validate = event ? validatorFor(model, event) : undefined;
  if (!event || !validate) return { kind: 'unknown_event', eventTypes: eventTypesOf(model) };
  if (validate(payload)) return { kind: 'valid' };
  const where = `${model}:${event}`;
  const problems: string[] = [];
  for (const error of validate.errors ?? []) {
    for (const text of describe(error, where)) if (!problems.includes(text)) problems.push(text);
    if (problems.length >= MAX_PROBLEMS) break;
  }
  return problems.length > 0
    ? { kind: 'invalid', problems: problems.slice(0, MAX_PROBLEMS) }
    : { kind: 'valid' };
}
