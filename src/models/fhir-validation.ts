import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FHIR_ID } from './fhir.ts';
import { isObject } from './meta.ts';

/**
 * FHIR R4 structural validation of a resource (a message Bundle and everything in it), with
 * `@medplum/core`'s `validateResource` over the compacted StructureDefinitions in
 * `catalogue/fhir-r4-definitions.json` (`npm run generate:fhir`). Checked: unknown elements,
 * JSON types, cardinalities (required elements, arrays), and the primitive formats (`id`,
 * `code`, `date`, `dateTime`, `instant`, `uri`, ...). Not checked: terminology bindings and
 * FHIRPath invariants (their definitions are not loaded: they would cost memory and time).
 *
 * The library and the definitions load on the first FHIR message (~0.4 s once), so they cost
 * nothing to the start-up, nor to a server that never sees one.
 */

export interface FhirProblem {
  /** FHIRPath of the element, e.g. `Bundle.entry[1].resource.birthDate`. */
  expression: string | undefined;
  text: string;
}

type Validate = (resource: unknown) => FhirProblem[];
let loading: Promise<Validate> | undefined;

async function load(): Promise<Validate> {
  const medplum = await import('@medplum/core');
  const definitions = JSON.parse(
    readFileSync(join(import.meta.dirname, 'catalogue', 'fhir-r4-definitions.json'), 'utf8'),
  ) as Parameters<typeof medplum.indexStructureDefinitionBundle>[0];
  medplum.indexStructureDefinitionBundle(definitions);
  return (resource) => {
    try {
      medplum.validateResource(resource as Parameters<typeof medplum.validateResource>[0]);
      return [];
    } catch (error) {
      const issues = (
        error as {
          outcome?: {
            issue?: { expression?: string[]; details?: { text?: string }; diagnostics?: string }[];
          };
        }
      ).outcome?.issue;
      if (!issues) throw error;
      return issues.map((issue) => ({
        expression: issue.expression?.[0],
        text: `${issue.details?.text ?? issue.diagnostics ?? 'Invalid'}${issue.expression?.[0] ? ` - ${issue.expression[0]}` : ''}`,
      }));
    }
  };
}

/** The problems of a FHIR resource; none when it is valid R4. */
export async function validateFhir(resource: unknown): Promise<FhirProblem[]> {
  loading ??= load();
  return [...(await loading)(resource), ...idProblems(resource)];
}

/**
 * `Resource.id` is typed as a plain string in R4's StructureDefinitions (its `id` rule is a
 * regex extension the library does not apply): checked here, for the resource and, in a
 * Bundle, for each entry's.
 */
function idProblems(resource: unknown): FhirProblem[] {
  if (!isObject(resource)) return [];
  const type = String(resource.resourceType);
  const found: { path: string; id: unknown }[] = [{ path: type, id: resource.id }];
  if (type === 'Bundle' && Array.isArray(resource.entry))
    resource.entry.forEach((entry, i) => {
      if (isObject(entry) && isObject(entry.resource))
        found.push({ path: `Bundle.entry[${i}].resource`, id: entry.resource.id });
    });
  return found
    .filter(({ id }) => typeof id === 'string' && !FHIR_ID.test(id))
    .map(({ path }) => ({ expression: `${path}.id`, text: `Invalid id format - ${path}.id` }));
}
