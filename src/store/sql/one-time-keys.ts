import type { OneTimeKeyStore } from '../roles/one-time-key-store.ts';
import type { Database } from './database.ts';

export class SqlOneTimeKeyStore implements OneTimeKeyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  claimOnce(kind: string, key: string, expiresAt: number, now: number): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.run('DELETE FROM one_time_keys WHERE expires_at <= :now', { now });
      const inserted = await tx.run(
        `INSERT INTO one_time_keys (kind, key, expires_at) VALUES (:kind, :key, :expiresAt)
         ON CONFLICT (kind, key) DO NOTHING`,
        { kind, key, expiresAt },
      );
      return inserted === 1;
    });
  }

  async hasClaim(kind: string, key: string, now: number): Promise<boolean> {
    const row = await this.#db.get(
      'SELECT 1 AS x FROM one_time_keys WHERE kind = :kind AND key = :key AND expires_at > :now',
      {
        kind,
        key,
        now,
      },
    );
    return row !== undefined;
  }
}
