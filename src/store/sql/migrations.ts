import { readdirSync, readFileSync } from 'node:fs';
import { StartupRefusedError } from '../../errors.ts';

/**
 * Numbered, forward-only migrations: one `.sql` file each, `NNNN_name.sql`, in each store's
 * `migrations/` folder. A migration runs in one transaction with the row that records it,
 * unless its first line is `-- switchboard:no-transaction` (PostgreSQL's `CREATE INDEX
 * CONCURRENTLY` cannot run in one): its statements, each ending with `;` at the end of a line,
 * then run one by one, and must be safe to run again (`IF NOT EXISTS`).
 */
export interface Migration {
  id: number;
  name: string;
  statements: string[];
  transactional: boolean;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const NO_TRANSACTION = '-- switchboard:no-transaction';

export function loadMigrations(folder: URL): Migration[] {
  return readdirSync(folder)
    .filter((file) => FILE.test(file))
    .sort()
    .map((file) => {
      const [, id, name] = FILE.exec(file)!;
      const sql = readFileSync(new URL(file, folder), 'utf8');
      const transactional = !sql.startsWith(NO_TRANSACTION);
      return {
        id: Number(id),
        name: name!.replaceAll('_', ' '),
        statements: transactional ? [sql] : splitStatements(sql),
        transactional,
      };
    });
}

function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((statement) =>
      statement
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((statement) => statement.length > 0);
}

/** The database was migrated by a newer Switchboard than this one. */
export class SchemaTooNewError extends StartupRefusedError {
  override name = 'SchemaTooNewError';
  constructor(where: string, newest: number, known: number) {
    super(
      `The database ${where} has schema version ${newest}, newer than this Switchboard knows (${known}): ` +
        'a newer release upgraded it. Run that release (or a later one) on it; this one will not start.',
    );
  }
}

/** The migrations still to apply; throws when the database holds any this code does not know. */
export function pendingMigrations(all: Migration[], applied: Iterable<number>, where: string): Migration[] {
  const done = new Set(applied);
  const known = new Set(all.map((m) => m.id));
  const unknown = [...done].filter((id) => !known.has(id));
  if (unknown.length > 0) throw new SchemaTooNewError(where, Math.max(...unknown), Math.max(0, ...known));
  return all.filter((m) => !done.has(m.id));
}
