import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dataModelSearchKeys,
  fhirQuerySearchKeys,
  fhirSearchKeys,
  MAX_SEARCH_KEY_LENGTH,
  MAX_SEARCH_KEYS,
} from '../../src/models/search-keys.ts';

const sorted = (keys: string[]): string[] => [...keys].sort();

test('data model: every Identifiers[].ID at any depth, and the IDs of top-level objects and array items', () => {
  const keys = dataModelSearchKeys({
    Meta: { DataModel: 'PatientAdmin', Source: { ID: 'meta-source' }, Message: { ID: 99 } },
    Patient: {
      Identifiers: [
        { ID: 'MRN-0001', IDType: 'MR' },
        { ID: 4242, IDType: 'EHRID' },
      ],
      Demographics: { FirstName: 'Ann', PhoneNumber: { Home: '555' } },
    },
    Visit: {
      VisitNumber: 'V-77',
      AccountNumber: 'ACC-1',
      AttendingProvider: { ID: 'provider-id-not-a-key' },
      Insurances: [{ Insured: { Identifiers: [{ ID: 'INS-9' }] } }],
    },
    Orders: [{ ID: 'ORD-1' }, { ID: 'ORD-2', Provider: { ID: 'nested-id-not-a-key' } }],
    Note: { DocumentID: 'DOC-5' },
  });
  assert.deepEqual(
    sorted(keys),
    ['4242', 'acc-1', 'doc-5', 'ins-9', 'mrn-0001', 'ord-1', 'ord-2', 'v-77'],
    'normalized to lower case; Meta and nested provider IDs are not keys',
  );
});

test('keys are bounded: their number, their length, the walk; odd values are ignored', () => {
  const many = { Patient: { Identifiers: Array.from({ length: 100 }, (_, i) => ({ ID: `id-${i}` })) } };
  assert.equal(dataModelSearchKeys(many).length, MAX_SEARCH_KEYS);
  const long = { Patient: { Identifiers: [{ ID: 'x'.repeat(MAX_SEARCH_KEY_LENGTH + 1) }, { ID: '  ' }] } };
  assert.deepEqual(dataModelSearchKeys(long), []);
  const odd = { Patient: { Identifiers: [{ ID: null }, { ID: { nested: 1 } }, 'text', 7, { ID: true }] } };
  assert.deepEqual(dataModelSearchKeys(odd), []);
  for (const payload of [null, 'text', 42, [], { Patient: null }])
    assert.deepEqual(dataModelSearchKeys(payload), []);
  // Deep nesting stops the walk without an error.
  let deep: Record<string, unknown> = { Identifiers: [{ ID: 'too-deep' }] };
  for (let i = 0; i < 100; i++) deep = { next: deep };
  assert.deepEqual(dataModelSearchKeys({ Patient: deep }), []);
  // Repeated identifiers are one key.
  assert.deepEqual(
    dataModelSearchKeys({ A: { Identifiers: [{ ID: 'X' }] }, B: { Identifiers: [{ ID: 'x' }] } }),
    ['x'],
  );
});

test('FHIR: identifier values and resource ids, through a Bundle', () => {
  const keys = fhirSearchKeys({
    resourceType: 'Bundle',
    id: 'bundle-1',
    type: 'message',
    entry: [
      { resource: { resourceType: 'MessageHeader', id: 'mh-1' } },
      {
        resource: {
          resourceType: 'Patient',
          id: 'pat-1',
          identifier: [{ system: 'urn:mrn', value: 'MRN-7' }, { value: 'SSN-1' }],
        },
      },
      { resource: { resourceType: 'Encounter', id: 'enc-1', identifier: { value: 'VN-3' } } },
    ],
  });
  assert.deepEqual(sorted(keys), ['bundle-1', 'enc-1', 'mh-1', 'mrn-7', 'pat-1', 'ssn-1', 'vn-3']);
});

test('FHIR queries: search parameter values, both halves of a token, _id, and the id read', () => {
  assert.deepEqual(
    sorted(
      fhirQuerySearchKeys({
        search: 'family=Smith&identifier=urn:mrn|MRN-1,MRN-2&_count=10&_id=p-9',
        body: 'given=Ann',
      }),
    ),
    ['ann', 'mrn-1', 'mrn-2', 'p-9', 'smith', 'urn:mrn|mrn-1'],
  );
  assert.deepEqual(fhirQuerySearchKeys({ search: '', id: 'Pat-123' }), ['pat-123']);
  assert.deepEqual(
    fhirQuerySearchKeys({ search: '_count=5&_sort=date&a=' }),
    [],
    'result parameters are not keys',
  );
});
