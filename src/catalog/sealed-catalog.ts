import type { Logger } from '../lib/logger.ts';
import { isSealed, SecretKeyError, type SecretBox } from '../lib/secret-box.ts';
import type { CatalogSnapshot, Destination } from '../models/entities.ts';
import type { CatalogChange, CatalogInput, CatalogStore } from '../store/roles/catalog-store.ts';

/** The destination fields that are secrets Switchboard must be able to read back. */
const SEALED = ['verificationToken', 'signingSecret'] as const;

/**
 * The catalog as the rest of Switchboard uses it, with destinations' secrets sealed at rest
 * (`lib/secret-box.ts`): written sealed, read opened. Without a key they are stored as given,
 * and a sealed one found then stops start-up (one line saying which key it needs).
 */
export function sealedCatalog(store: CatalogStore, box: SecretBox | undefined): CatalogStore {
  const mapDestinations = <T extends { destinations: Destination[] }>(
    catalog: T,
    map: (value: string) => string,
  ): T => ({
    ...catalog,
    destinations: catalog.destinations.map((d) => {
      const copy = { ...d };
      for (const field of SEALED) if (copy[field] !== undefined) copy[field] = map(copy[field]);
      return copy;
    }),
  });
  const open = (value: string): string => {
    if (box) return box.open(value);
    if (isSealed(value)) throw new SecretKeyError(value.split(':')[2] ?? '?');
    return value;
  };
  return {
    getOrCreateSetting: (key, candidate) => store.getOrCreateSetting(key, candidate),
    catalogVersion: () => store.catalogVersion(),
    changeCatalog: (change: CatalogChange) =>
      store.changeCatalog({
        ...change,
        ops: change.ops.map((op) => {
          if (!box || op.entity !== 'destination' || op.kind === 'delete') return op;
          const [sealed] = mapDestinations({ destinations: [op.value] }, (v) => box.seal(v)).destinations;
          return { ...op, value: sealed ?? op.value };
        }),
      }),
    syncCatalog: (input: CatalogInput) =>
      store.syncCatalog(box ? mapDestinations(input, (v) => box.seal(v)) : input),
    loadCatalog: async (): Promise<CatalogSnapshot> => mapDestinations(await store.loadCatalog(), open),
  };
}

/**
 * At start-up: seals anew, with the current key, every stored secret sealed with an older key
 * or stored in clear, so the old keys can then be dropped; or, without a key, warns that they
 * are in clear. Returns how many destinations were rewritten.
 */
export async function resealSecrets(
  store: CatalogStore,
  box: SecretBox | undefined,
  logger: Logger,
): Promise<number> {
  const stored = await store.loadCatalog();
  const has = (d: Destination): boolean => SEALED.some((field) => d[field] !== undefined);
  if (!box) {
    if (stored.destinations.some(has))
      logger.warn(
        "SWITCHBOARD_SECRET_KEY is not set: destinations' signing secrets and verification tokens are stored in clear " +
          '(docs/configuration.md)',
      );
    return 0;
  }
  const stale = stored.destinations.filter((d) =>
    SEALED.some((field) => d[field] !== undefined && !box.isCurrent(d[field])),
  );
  if (stale.length === 0) return 0;
  // Opened with whichever key sealed them, then written back through the sealing store.
  const sealed = sealedCatalog(store, box);
  const opened = await sealed.loadCatalog();
  await sealed.syncCatalog(opened);
  logger.info({ destinations: stale.length, keyId: box.keyId }, 'secrets: sealed anew with the current key');
  return stale.length;
}
