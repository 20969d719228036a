/**
 * `npm run generate:catalogue`: the Redox data model catalogue (SPEC 2.2 "Validation") from the
 * public JSON Schemas in ../shared/reference/redox-data-model-schemas/ (redox-contrib/models
 * 0.2.0, MIT: its notice is kept in the output), into the project's compact format:
 *
 *   { "models": { "<Model>": { "<Event>": <node> } } }, a node being
 *   { "t"?: ["string", "null", ...] (JSON types), "p"?: { field: node } (properties),
 *     "i"?: node (array items), "r"?: ["field", ...] (required) }
 *
 * Descriptions, examples and formats are dropped: only what validation checks is kept.
 * `test/unit/data-model-catalogue.test.ts` regenerates it and fails when the committed file differs.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalDataModel } from '../src/models/data-models.ts';

/**
 * Where the reference schemas are: REDOX_SCHEMAS_DIR, or `shared/reference/...` beside the
 * checkout or beside one of its parent folders (`../shared/reference/` in the project's layout).
 * Undefined when there is none (a clone elsewhere): the catalogue is committed, so only
 * regenerating it needs them.
 */
export function findReference(): string | undefined {
  if (process.env.REDOX_SCHEMAS_DIR) return process.env.REDOX_SCHEMAS_DIR;
  for (let dir = join(import.meta.dirname, '..'); ; dir = dirname(dir)) {
    const candidate = join(dirname(dir), 'shared', 'reference', 'redox-data-model-schemas');
    if (existsSync(join(candidate, 'schemas'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
export const OUTPUT = join(import.meta.dirname, '..', 'src', 'models', 'catalogue', 'redox-data-models.json');

/** Words of Redox event names, to spell `newpatient` as `NewPatient`. */
const WORDS = [
  'account',
  'activate',
  'administration',
  'admit',
  'arrival',
  'auth',
  'available',
  'batch',
  'booked',
  'cancel',
  'census',
  'deactivate',
  'delete',
  'deplete',
  'discharge',
  'document',
  'get',
  'grouped',
  'location',
  'merge',
  'modification',
  'modify',
  'new',
  'no',
  'orders',
  'patient',
  'payment',
  'pre',
  'provider',
  'push',
  'query',
  'registration',
  'replace',
  'request',
  'reschedule',
  'response',
  'review',
  'show',
  'sign',
  'on',
  'slots',
  'study',
  'subject',
  'submission',
  'transaction',
  'transfer',
  'unsolicited',
  'update',
  'visit',
];

/** `newpatient` -> `NewPatient`, by splitting into known words (the longest first). */
export function eventName(file: string): string {
  const base = file.replace(/\.json$/, '');
  return base
    .split('-')
    .map((part) => {
      const words: string[] = [];
      let rest = part;
      while (rest) {
        const word = [...WORDS].sort((a, b) => b.length - a.length).find((w) => rest.startsWith(w));
        if (!word) throw new Error(`cannot spell event "${part}": add its words to WORDS`);
        words.push(word.charAt(0).toUpperCase() + word.slice(1));
        rest = rest.slice(word.length);
      }
      return words.join('');
    })
    .join('-');
}

export interface Node {
  t?: string[];
  p?: Record<string, Node>;
  i?: Node;
  r?: string[];
}

function compact(schema: Record<string, unknown>): Node {
  const node: Node = {};
  if (schema.type !== undefined) node.t = ([] as string[]).concat(schema.type as string | string[]);
  if (schema.properties && typeof schema.properties === 'object')
    node.p = Object.fromEntries(
      Object.entries(schema.properties as Record<string, Record<string, unknown>>).map(([k, v]) => [
        k,
        compact(v),
      ]),
    );
  if (schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items))
    node.i = compact(schema.items as Record<string, unknown>);
  if (Array.isArray(schema.required) && schema.required.length > 0) node.r = schema.required as string[];
  return node;
}

export function generate(reference: string): string {
  const models: Record<string, Record<string, Node>> = {};
  for (const dir of readdirSync(join(reference, 'schemas')).sort()) {
    const model = canonicalDataModel(dir);
    if (!model) throw new Error(`unknown data model directory "${dir}"`);
    for (const file of readdirSync(join(reference, 'schemas', dir)).sort()) {
      const schema = JSON.parse(readFileSync(join(reference, 'schemas', dir, file), 'utf8')) as Record<
        string,
        unknown
      >;
      (models[model] ??= {})[eventName(file)] = compact(schema);
    }
  }
  const notice = readFileSync(join(reference, 'LICENSE'), 'utf8').trim();
  return `${JSON.stringify({ source: 'redox-contrib/models 0.2.0 (JSON Schema draft-04), compacted by scripts/generate-data-model-catalogue.ts', license: notice, models })}\n`;
}

if (import.meta.main) {
  const reference = findReference();
  if (!reference) throw new Error('reference schemas not found: set REDOX_SCHEMAS_DIR');
  writeFileSync(OUTPUT, generate(reference));
  console.log(`wrote ${OUTPUT}`);
}
