import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

/** A prepared statement whose `:name` parameters were numbered, and the names in that order. */
export interface PositionalStatement {
  statement: StatementSync;
  names: readonly string[];
}

/** A quoted string or identifier (left alone), or a `:name` parameter. */
const TOKEN = /'(?:[^']|'')*'|"(?:[^"]|"")*"|:([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Prepares SQL written with `:name` parameters as numbered ones (`?1`, `?2`, ...), so that values
 * are bound by position. node:sqlite binds a named-parameter object by looking up each key in
 * three spellings (`:x`, `$x`, `@x`): about 3 µs more than positional binding for a 16-column
 * insert, on every accepted message and every attempt record. The SQL stays readable.
 */
export function preparePositional(db: DatabaseSync, sql: string): PositionalStatement {
  const names: string[] = [];
  const numbered = sql.replace(TOKEN, (token, name: string | undefined) => {
    if (name === undefined) return token;
    let index = names.indexOf(name);
    if (index < 0) index = names.push(name) - 1;
    return `?${index + 1}`;
  });
  return { statement: db.prepare(numbered), names };
}

/** The values of `params` in the statement's order; a missing one is NULL, as when unbound. */
export function positionalArgs(
  prepared: PositionalStatement,
  params: Record<string, SQLInputValue>,
): SQLInputValue[] {
  const { names } = prepared;
  const args = new Array<SQLInputValue>(names.length);
  for (let i = 0; i < names.length; i++) args[i] = params[names[i]!] ?? null;
  return args;
}
