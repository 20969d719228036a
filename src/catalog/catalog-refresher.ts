import type { Logger } from '../lib/logger.ts';
import type { CatalogStore } from '../store/roles/catalog-store.ts';
import type { Catalog } from './catalog.ts';

export interface CatalogRefresherDeps {
  /** The sealing view of the store (secrets opened). */
  store: Pick<CatalogStore, 'loadCatalog' | 'catalogVersion'>;
  catalog: Catalog;
  logger: Logger;
  /** How often the stored catalog version is compared; 0: only when told (one process). */
  pollMs: number;
  /** Told of other instances' changes (PostgreSQL NOTIFY); returns an unsubscribe. */
  subscribe?: (listener: () => void) => () => void;
}

/**
 * Keeps the in-memory catalog in step with the store. A change made on this instance is loaded
 * before its answer goes out (`refresh`); one made on another is announced (NOTIFY) and, should
 * the announcement be lost, found by comparing the catalog version every `pollMs`: either way
 * the next token, route, delivery and query see it within a second.
 */
export class CatalogRefresher {
  readonly #deps: CatalogRefresherDeps;
  #version = -1;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(deps: CatalogRefresherDeps) {
    this.#deps = deps;
  }

  /** The version the catalog was built at (start-up). */
  set version(version: number) {
    this.#version = version;
  }

  start(): void {
    this.#unsubscribe = this.#deps.subscribe?.(() => void this.refresh());
    if (this.#deps.pollMs > 0) {
      this.#timer = setInterval(() => void this.refresh(), this.#deps.pollMs);
      this.#timer.unref();
    }
  }

  /** Reloads the catalog if its stored version moved; resolves once this instance sees it. */
  refresh(): Promise<void> {
    if (this.#running) {
      // A change may have committed after the running check read the version: look once more.
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#check().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.refresh();
      }
    });
    return this.#running;
  }

  /** Resolves once this instance's catalog is at least at `version` (after its own write). */
  async seen(version: number): Promise<void> {
    for (let tries = 0; this.#version < version && tries < 3; tries++) await this.refresh();
  }

  async #check(): Promise<void> {
    const { store, catalog, logger } = this.#deps;
    try {
      const version = await store.catalogVersion();
      if (version === this.#version) return;
      // Read the version first: a change landing in between is then loaded now and seen again
      // (harmlessly) at the next look.
      catalog.replace(await store.loadCatalog());
      this.#version = version;
    } catch (error) {
      logger.error({ err: error }, 'catalog: reloading failed; the next look tries again');
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#unsubscribe?.();
  }
}
