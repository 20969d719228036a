import type { CatalogSnapshot } from '../../models/entities.ts';
import type {
  CatalogChange,
  CatalogChangeResult,
  CatalogInput,
  CatalogStore,
} from '../roles/catalog-store.ts';
import { toCatalog } from '../rows.ts';
import { applyCatalogOp } from './catalog-changes.ts';
import {
  bumpCatalogVersion,
  putDestination,
  putOrganization,
  putPlatformKey,
  putSource,
  putSubscription,
} from './catalog-rows.ts';
import { insertAudit } from './audit.ts';
import type { Database } from './database.ts';

export class SqlCatalogStore implements CatalogStore {
  readonly #db: Database;
  readonly #onChanged: () => void;

  /** `onChanged` runs after each committed change (PostgreSQL: tells the other instances). */
  constructor(db: Database, onChanged: () => void = () => undefined) {
    this.#db = db;
    this.#onChanged = onChanged;
  }

  async getOrCreateSetting(key: string, candidate: string): Promise<string> {
    // Read first: a setting that exists costs no write (a start-up on a full disk needs none).
    const existing = await this.#db.get<{ value: string }>('SELECT value FROM settings WHERE key = :key', {
      key,
    });
    if (existing) return existing.value;
    return this.#db.transaction(async (tx) => {
      await tx.run('INSERT INTO settings (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING', {
        key,
        value: candidate,
      });
      return (await tx.get<{ value: string }>('SELECT value FROM settings WHERE key = :key', { key }))!.value;
    });
  }

  async catalogVersion(): Promise<number> {
    const row = await this.#db.get<{ value: string }>(
      "SELECT value FROM settings WHERE key = 'catalog_version'",
    );
    return Number(row?.value ?? 0);
  }

  async syncCatalog(catalog: CatalogInput): Promise<void> {
    const lock = this.#db.dialect.transactionLock('catalog');
    const fileOrgs = catalog.organizations.map((o) => o.id);
    await this.#db.transaction(async (tx) => {
      // Instances starting together would otherwise interleave the deletes and inserts below.
      if (lock) await tx.run(lock);
      // What the file managed and no longer declares is handed to the API (kept, not deleted:
      // a destination may still hold logs); what it declares is taken back just below.
      for (const table of ['organizations', 'sources', 'destinations'])
        await tx.run(`UPDATE ${table} SET origin = 'api' WHERE origin = 'file'`);
      // The file's keys and subscriptions of the organizations it declares are replaced, so one
      // removed from the file stops working; those of organizations it no longer declares stay.
      for (const orgId of fileOrgs) {
        await tx.run("DELETE FROM platform_keys WHERE org_id = :orgId AND origin = 'file'", { orgId });
        await tx.run("DELETE FROM subscriptions WHERE org_id = :orgId AND origin = 'file'", { orgId });
      }
      await tx.run("UPDATE platform_keys SET origin = 'api' WHERE origin = 'file'");
      await tx.run("UPDATE subscriptions SET origin = 'api' WHERE origin = 'file'");
      for (const org of catalog.organizations) await putOrganization(tx, org, 'file');
      for (const key of catalog.platformKeys) await putPlatformKey(tx, key, 'file');
      for (const s of catalog.sources) await putSource(tx, s, 'file');
      for (const d of catalog.destinations) await putDestination(tx, d, 'file');
      for (const s of catalog.subscriptions) await putSubscription(tx, s, 'file');
      await bumpCatalogVersion(tx);
    });
    this.#onChanged();
  }

  async changeCatalog(change: CatalogChange): Promise<CatalogChangeResult> {
    const lock = this.#db.dialect.transactionLock('catalog');
    let result: CatalogChangeResult;
    try {
      result = await this.#db.transaction(async (tx): Promise<CatalogChangeResult> => {
        // One catalog writer at a time: the checks below then hold until the commit.
        if (lock) await tx.run(lock);
        let failedLogs: number | undefined;
        for (const [i, op] of change.ops.entries()) {
          const applied = await applyCatalogOp(tx, op, change.audit.at);
          // An op refuses before it writes anything, so a refused first op leaves nothing to
          // undo; a later one is thrown, so that the ops before it roll back with it (on the
          // embedded store that replays the rest of its group commit one by one: kept rare).
          if (!applied.ok && i === 0) return applied;
          if (!applied.ok) throw new Refused(applied);
          failedLogs = applied.failedLogs ?? failedLogs;
        }
        await insertAudit(tx, change.audit);
        const version = await bumpCatalogVersion(tx);
        return failedLogs === undefined ? { ok: true, version } : { ok: true, version, failedLogs };
      });
    } catch (error) {
      if (error instanceof Refused) return error.refusal;
      throw error;
    }
    if (result.ok) this.#onChanged();
    return result;
  }

  async loadCatalog(): Promise<CatalogSnapshot> {
    const db = this.#db;
    const [organizations, platformKeys, sources, destinations, subscriptions] = await Promise.all([
      db.all('SELECT * FROM organizations ORDER BY id'),
      db.all('SELECT * FROM platform_keys ORDER BY org_id, created_at, id'),
      db.all('SELECT * FROM sources ORDER BY org_id, id'),
      db.all('SELECT * FROM destinations ORDER BY org_id, id'),
      // Unordered, as stored: the file's subscriptions keep its order (routing answers in it).
      db.all('SELECT * FROM subscriptions'),
    ]);
    return toCatalog({ organizations, platformKeys, sources, destinations, subscriptions });
  }
}

class Refused extends Error {
  readonly refusal: Extract<CatalogChangeResult, { ok: false }>;
  constructor(refusal: Extract<CatalogChangeResult, { ok: false }>) {
    super(refusal.reason);
    this.refusal = refusal;
  }
}
