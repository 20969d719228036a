import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkMeta } from '../../src/models/meta.ts';

const body = (meta: unknown): unknown => ({ Meta: meta, Patient: {} });

/** The 400 text for a payload, or a failure if it was accepted. */
function rejected(payload: unknown): string {
  const result = checkMeta(payload);
  assert.ok(!result.ok, `expected ${JSON.stringify(payload)} to be rejected`);
  assert.equal(result.status, 400);
  return result.text;
}

test('a valid Meta: DataModel canonical, Test false by default, Destinations kept', () => {
  const result = checkMeta(
    body({
      DataModel: 'PatientAdmin',
      EventType: 'NewPatient',
      EventDateTime: '2026-01-01T00:00:00Z',
      Destinations: [{ ID: 'app', Name: 'ignored' }],
    }),
  );
  assert.ok(result.ok);
  assert.equal(result.dataModel, 'PatientAdmin');
  assert.deepEqual(result.meta, {
    DataModel: 'PatientAdmin',
    EventType: 'NewPatient',
    EventDateTime: '2026-01-01T00:00:00Z',
    Test: false,
    Destinations: [{ ID: 'app' }],
  });
  const test = checkMeta(body({ DataModel: 'PatientAdmin', EventType: 'NewPatient', Test: true }));
  assert.ok(test.ok);
  assert.equal(test.meta.Test, true);
  assert.equal(test.meta.Destinations, undefined, 'no Destinations: routed by subscriptions');

  // The data model is matched loosely and named canonically.
  const loose = checkMeta(body({ DataModel: 'patient_admin', EventType: 'NewPatient' }));
  assert.ok(loose.ok);
  assert.equal(loose.dataModel, 'PatientAdmin');
});

test('required fields: the body, Meta, Meta.DataModel, Meta.EventType', () => {
  assert.equal(rejected([]), 'Request body must be a JSON object');
  assert.equal(rejected(null), 'Request body must be a JSON object');
  assert.equal(rejected({ Patient: {} }), 'Required field missing - Meta');
  assert.equal(rejected(body('PatientAdmin')), 'Invalid field type - Meta must be an object');
  assert.equal(rejected(body({ EventType: 'NewPatient' })), 'Required field missing - Meta.DataModel');
  assert.equal(
    rejected(body({ DataModel: '', EventType: 'NewPatient' })),
    'Required field missing - Meta.DataModel',
  );
  assert.equal(rejected(body({ DataModel: 'PatientAdmin' })), 'Required field missing - Meta.EventType');
  assert.equal(
    rejected(body({ DataModel: 'PatientAdmin', EventType: null })),
    'Required field missing - Meta.EventType',
  );
});

test('field types: DataModel and EventType strings, Test boolean, Destinations an array of IDs', () => {
  const base = { DataModel: 'PatientAdmin', EventType: 'NewPatient' };
  assert.equal(
    rejected(body({ ...base, DataModel: 7 })),
    'Invalid field type - Meta.DataModel must be a string',
  );
  assert.equal(
    rejected(body({ ...base, EventType: ['x'] })),
    'Invalid field type - Meta.EventType must be a string',
  );
  assert.equal(
    rejected(body({ ...base, Test: 'true' })),
    'Invalid field type - Meta.Test must be true or false',
  );
  assert.equal(
    rejected(body({ ...base, EventDateTime: 1 })),
    'Invalid field type - Meta.EventDateTime must be a string',
  );
  assert.equal(
    rejected(body({ ...base, Destinations: { ID: 'app' } })),
    'Invalid field type - Meta.Destinations must be an array',
  );
  assert.equal(
    rejected(body({ ...base, Destinations: [{ ID: 'app' }, {}] })),
    'Required field missing - Meta.Destinations[1].ID',
  );
  assert.equal(
    rejected(body({ ...base, Destinations: [{ ID: 3 }] })),
    'Invalid field type - Meta.Destinations[0].ID must be a string',
  );
});

test('an unknown data model is 404, and error answers echo only the readable Meta fields', () => {
  const result = checkMeta(
    body({ DataModel: 'Nope', EventType: 'NewPatient', Test: true, Source: { ID: 'x' } }),
  );
  assert.ok(!result.ok);
  assert.equal(result.status, 404);
  assert.equal(result.text, 'Unknown data model - Nope');
  assert.deepEqual(result.echo, { DataModel: 'Nope', EventType: 'NewPatient', Test: true });
  const typed = checkMeta(body({ DataModel: 'PatientAdmin', EventType: 5, Test: 1 }));
  assert.ok(!typed.ok);
  assert.deepEqual(typed.echo, { DataModel: 'PatientAdmin' });
});
