import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ORDERING_KEY_LENGTH, isOrderingKeyPath, orderingKeyOf } from '../../src/models/ordering-key.ts';

const PATH = '$.Patient.Identifiers[0].ID';

test('the key is the first scalar the JSONPath selects; anything else is ""', () => {
  assert.equal(
    orderingKeyOf(PATH, { Patient: { Identifiers: [{ ID: 'MRN-1' }, { ID: 'MRN-2' }] } }),
    'MRN-1',
  );
  assert.equal(orderingKeyOf('$.Visit.Number', { Visit: { Number: 42 } }), '42');
  assert.equal(orderingKeyOf('$.Flag', { Flag: true }), 'true');
  assert.equal(orderingKeyOf(PATH, { Patient: {} }), '');
  assert.equal(orderingKeyOf(PATH, { Patient: { Identifiers: [{ ID: { nested: 1 } }] } }), '');
  assert.equal(orderingKeyOf(PATH, { Patient: { Identifiers: [{ ID: null }] } }), '');
  assert.equal(orderingKeyOf('$..ID', { a: { b: [{ ID: 'deep' }] } }), 'deep');
  assert.equal(
    orderingKeyOf(PATH, { Patient: { Identifiers: [{ ID: 'x'.repeat(1_000) }] } }).length,
    MAX_ORDERING_KEY_LENGTH,
  );
});

test('only RFC 9535 JSONPath is accepted, and nothing is evaluated as code', () => {
  assert.ok(isOrderingKeyPath(PATH));
  assert.ok(isOrderingKeyPath("$.Patient.Identifiers[?@.IDType == 'MR'].ID"));
  for (const bad of ['Patient.ID', '$.[', '$..', "$[?(@.constructor.constructor('return process')())]"])
    assert.equal(isOrderingKeyPath(bad), false, bad);
  assert.equal(
    orderingKeyOf("$.Patient.Identifiers[?@.IDType == 'MR'].ID", {
      Patient: {
        Identifiers: [
          { ID: 'E1', IDType: 'EPI' },
          { ID: 'M7', IDType: 'MR' },
        ],
      },
    }),
    'M7',
  );
});
