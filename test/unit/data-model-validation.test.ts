import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { findReference, generate, OUTPUT } from '../../scripts/generate-data-model-catalogue.ts';
import {
  MAX_PROBLEMS,
  canonicalEventType,
  eventTypesOf,
  validatePayload,
} from '../../src/models/validation.ts';

const meta = (DataModel: string, EventType: string) => ({ Meta: { DataModel, EventType } });
const problems = (payload: unknown, model: string, event: string): string[] => {
  const result = validatePayload(payload, model, event);
  return result.kind === 'invalid' ? result.problems : [];
};

const reference = findReference();

test('the committed catalogue is what the generator makes of the reference schemas', (t) => {
  // The schemas live outside the repository (../shared/reference/); a clone elsewhere has only
  // the committed catalogue, which the tests below check.
  if (!reference) return t.skip('reference schemas not found (set REDOX_SCHEMAS_DIR)');
  assert.equal(readFileSync(OUTPUT, 'utf8'), generate(reference), 'run npm run generate:catalogue');
});

test('the committed catalogue holds every model and event of the reference', () => {
  assert.equal(eventTypesOf('PatientAdmin').length, 15);
  assert.equal(canonicalEventType('PatientAdmin', 'new patient'), 'NewPatient');
  assert.equal(canonicalEventType('SSO', 'sign-on'), 'Sign-On');
});

// Golden texts, in Redox's words, from the reference schemas' required fields and types.
const GOLDEN: [string, string, unknown, string[]][] = [
  ['Device', 'New', {}, ['Device.ID', 'Observations']],
  ['PatientAdmin', 'NewPatient', {}, ['Patient.Identifiers']],
  ['PatientAdmin', 'Arrival', { Patient: { Identifiers: [{ ID: '1' }] } }, ['Patient.Identifiers[0].IDType']],
  [
    'Order',
    'New',
    { Patient: { Identifiers: [{}] }, Order: {} },
    ['Patient.Identifiers[0].ID', 'Patient.Identifiers[0].IDType', 'Order.ID'],
  ],
  [
    'Scheduling',
    'New',
    {},
    ['Visit.VisitNumber', 'Visit.VisitDateTime', 'Visit.Duration', 'Visit.Location.Department'],
  ],
  [
    'Notes',
    'New',
    { Patient: { Identifiers: [] } },
    ['Note.ContentType', 'Note.DocumentType', 'Note.DocumentID', 'Note.Provider.ID'],
  ],
  [
    'Media',
    'New',
    { Patient: { Identifiers: [] }, Media: { FileType: 'PDF' } },
    [
      'Media.FileName',
      'Media.FileContents',
      'Media.DocumentType',
      'Media.DocumentID',
      'Media.Availability',
      'Media.Provider.ID',
    ],
  ],
  [
    'Vaccination',
    'Administration',
    { Patient: { Identifiers: [] }, Vaccinations: [{ Product: {} }] },
    ['Vaccinations[0].DateTime', 'Vaccinations[0].Action', 'Vaccinations[0].Product.Code'],
  ],
  [
    'Flowsheet',
    'New',
    { Patient: { Identifiers: [] }, Observations: [{ DateTime: 'x', Value: '1' }] },
    ['Observations[0].Code', 'Observations[0].ValueType'],
  ],
  [
    'Medications',
    'New',
    { Patient: { Identifiers: [] }, Order: { ID: '1' } },
    ['Order.Medication.Product.Code'],
  ],
  [
    'Provider',
    'New',
    { Providers: [{ Identifiers: [{}] }] },
    ['Providers[0].IsActive', 'Providers[0].Identifiers[0].ID'],
  ],
  ['ClinicalSummary', 'PatientQuery', {}, ['Patient.Identifiers']],
  ['SSO', 'Sign-On', {}, ['Subject', 'Expiration', 'IssuedAt']],
];

for (const [model, event, body, missing] of GOLDEN)
  test(`${model}:${event} names what is missing`, () => {
    const texts = problems({ ...meta(model, event), ...(body as object) }, model, event);
    assert.deepEqual(
      [...texts].sort(),
      missing.map((path) => `Required field missing - ${path} in ${model}:${event}`).sort(),
    );
  });

test('a value of the wrong JSON type is named by its path, array items by index', () => {
  const payload = {
    ...meta('Device', 'New'),
    Device: { ID: 42 },
    Observations: [
      { DateTime: 'x', Code: 'c', Value: '1', ValueType: 'Numeric' },
      { DateTime: 'x', Code: 7, Value: '1', ValueType: 'Numeric' },
    ],
  };
  assert.deepEqual(problems(payload, 'Device', 'New'), [
    'Invalid value - Device.ID in Device:New',
    'Invalid value - Observations[1].Code in Device:New',
  ]);
  assert.deepEqual(
    problems(
      {
        ...meta('PatientAdmin', 'NewPatient'),
        Patient: { Identifiers: [{ ID: '1', IDType: 'MR' }], Demographics: { DOB: 19_700_101 } },
      },
      'PatientAdmin',
      'NewPatient',
    ),
    ['Invalid value - Patient.Demographics.DOB in PatientAdmin:NewPatient'],
  );
});

test('at most 20 problems; unknown fields pass; unknown event types are told apart; names match loosely', () => {
  const many = { ...meta('Provider', 'New'), Providers: Array.from({ length: 30 }, () => ({})) };
  assert.equal(problems(many, 'Provider', 'New').length, MAX_PROBLEMS);
  const extra = {
    ...meta('PatientAdmin', 'NewPatient'),
    Patient: { Identifiers: [{ ID: '1', IDType: 'MR' }], Custom: { x: [1] } },
    Anything: 1,
  };
  assert.deepEqual(validatePayload(extra, 'PatientAdmin', 'NewPatient'), { kind: 'valid' });
  assert.deepEqual(validatePayload(extra, 'PatientAdmin', 'new patient'), { kind: 'valid' });
  assert.equal(validatePayload(extra, 'PatientAdmin', 'Bogus').kind, 'unknown_event');
});
