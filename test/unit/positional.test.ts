import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { positionalArgs, preparePositional } from '../../src/store/sqlite/positional.ts';

const db = new DatabaseSync(':memory:');

test('`:name` parameters become numbered ones; a name used twice is one parameter', () => {
  const prepared = preparePositional(db, 'SELECT :a AS a, :b AS b, :a + 1 AS again');
  assert.equal(prepared.statement.sourceSQL, 'SELECT ?1 AS a, ?2 AS b, ?1 + 1 AS again');
  assert.deepEqual(prepared.names, ['a', 'b']);
  assert.deepEqual(
    { ...prepared.statement.get(...positionalArgs(prepared, { b: 'x', a: 41 })) },
    { a: 41, b: 'x', again: 42 },
  );
});

test('colons inside quoted strings and identifiers are left alone', () => {
  const prepared = preparePositional(db, `SELECT 'ip:' || :ip AS "k:v", 'it''s :not' AS s`);
  assert.deepEqual(prepared.names, ['ip']);
  assert.deepEqual(
    { ...prepared.statement.get(...positionalArgs(prepared, { ip: '10.0.0.1' })) },
    {
      'k:v': 'ip:10.0.0.1',
      s: "it's :not",
    },
  );
});

test('a parameter missing from the object is NULL, as an unbound one is', () => {
  const prepared = preparePositional(db, 'SELECT :present AS p, :missing AS m');
  assert.deepEqual(
    { ...prepared.statement.get(...positionalArgs(prepared, { present: 1 })) },
    {
      p: 1,
      m: null,
    },
  );
});
