import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { numberParams, valuesInOrder } from '../../src/store/sql/named-params.ts';

const db = new DatabaseSync(':memory:');
const same = (value: unknown): unknown => value ?? null;

function run(sql: string, params: Record<string, unknown>): Record<string, unknown> {
  const numbered = numberParams(sql, '?');
  const values = valuesInOrder(numbered.names, params, same) as (string | number | null)[];
  return { ...db.prepare(numbered.text).get(...values) };
}

test('`:name` parameters become numbered ones; a name used twice is one parameter', () => {
  const numbered = numberParams('SELECT :a AS a, :b AS b, :a + 1 AS again', '?');
  assert.equal(numbered.text, 'SELECT ?1 AS a, ?2 AS b, ?1 + 1 AS again');
  assert.deepEqual(numbered.names, ['a', 'b']);
  assert.deepEqual(run('SELECT :a AS a, :b AS b, :a + 1 AS again', { b: 'x', a: 41 }), {
    a: 41,
    b: 'x',
    again: 42,
  });
  assert.equal(numberParams('SELECT :a, :b, :a', '$').text, 'SELECT $1, $2, $1');
});

test('colons inside quoted strings and identifiers, and PostgreSQL casts, are left alone', () => {
  assert.deepEqual(run(`SELECT 'ip:' || :ip AS "k:v", 'it''s :not' AS s`, { ip: '10.0.0.1' }), {
    'k:v': 'ip:10.0.0.1',
    s: "it's :not",
  });
  const cast = numberParams('SELECT :n::int AS n, count(*)::bigint AS c', '$');
  assert.equal(cast.text, 'SELECT $1::int AS n, count(*)::bigint AS c');
  assert.deepEqual(cast.names, ['n']);
});

test('a parameter missing from the object is NULL, as an unbound one is', () => {
  assert.deepEqual(run('SELECT :present AS p, :missing AS m', { present: 1 }), { p: 1, m: null });
});
