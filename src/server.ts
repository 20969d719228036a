import { StoreUnavailableError } from './errors.ts';
import { WriteHealth } from './lib/write-health.ts';
import { FailedSignIns } from './api/lockout/failed-sign-ins.ts';
import { MemoryLockoutStore, RedisLockoutStore } from './api/lockout/lockout-store.ts';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { AccessTokens } from './api/auth/access-tokens.ts';
import { Catalog } from './catalog/catalog.ts';
import { resealSecrets, sealedCatalog } from './catalog/sealed-catalog.ts';
import { syncConfiguredCatalog } from './catalog/sync.ts';
import { CatalogRefresher } from './catalog/catalog-refresher.ts';
import { CatalogAdmin } from './services/catalog-admin.ts';
import type { CatalogStore } from './store/roles/catalog-store.ts';
import { parseSecretKey, SecretBox } from './lib/secret-box.ts';
import type { Config } from './config.ts';
import { AlertNotifier } from './alerts/alert-notifier.ts';
import { Dispatcher } from './delivery/dispatcher.ts';
import type { Alert } from './models/alert.ts';
import { Outbound } from './delivery/outbound.ts';
import { QueryClient } from './delivery/query-client.ts';
import { MemoryRateCounter } from './api/rate-limit/rolling-window.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLogger, type Logger } from './lib/logger.ts';
import { randomToken } from './lib/secrets.ts';
import { Metrics } from './metrics/metrics.ts';
import { Purger } from './retention/purger.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/store.ts';

/**
 * How often an instance on a shared store compares the catalog version, in case a NOTIFY was
 * lost: a change is then seen everywhere within this (plus one load) at worst.
 */
const CATALOG_POLL_MS = 500;

export interface Server {
  app: FastifyInstance;
  store: Store;
  dispatcher: Dispatcher;
  alerts: AlertNotifier;
  purger: Purger;
  catalog: Catalog;
  /** Base URL once listening. */
  url: string;
  close(): Promise<void>;
}

/** The box destinations' secrets are sealed with, from the configured keys; none without a key. */
function secretBox(server: Readonly<Config['server']>): SecretBox | undefined {
  if (!server.secretKey) return undefined;
  const parse = (text: string): Buffer => {
    const key = parseSecretKey(text);
    if (!key) throw new Error('secret key not validated by the config schema');
    return key;
  };
  return new SecretBox(parse(server.secretKey), server.previousSecretKeys.map(parse));
}

export interface ServerOptions {
  clock?: Clock;
  logger?: Logger;
  onAlert?: (alert: Alert) => void;
  /** Start without delivery (benchmarks of the accept path). */
  delivery?: boolean;
}

/**
 * Composition root: store -> migrations -> catalog -> delivery -> HTTP. `close()` undoes it in
 * reverse: stop accepting, finish or release in-flight attempts, then close the store.
 */
export async function startServer(config: Readonly<Config>, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.server.logLevel);
  const store = await openStore(config.server);
  let catalog: Catalog;
  let catalogStore: CatalogStore;
  let catalogVersion: number;
  let tokenKey: string;
  const writeHealth = new WriteHealth();
  // The start-up writes: the configured catalog, and (one process owning the embedded store)
  // freeing the leases a crashed predecessor left, which are void.
  let startupWrites: () => Promise<void> = async () => undefined;
  try {
    await store.migrate();
    const box = secretBox(config.server);
    catalogStore = sealedCatalog(store.catalog, box);
    const sync = async (): Promise<void> => {
      await syncConfiguredCatalog(catalogStore, config);
      await resealSecrets(store.catalog, box, logger);
    };
    startupWrites = async () => {
      await (store.exclusive ? store.exclusive(sync) : sync());
      if (!store.capabilities.multipleWriters) await store.queues.releaseLeases();
    };
    // On a full disk the server still starts: it serves reads, `/readyz` says why it is not
    // ready, and the writes are tried again until they succeed (below).
    await startupWrites().then(
      () => (startupWrites = async () => undefined),
      (error: unknown) => refusedWrite(error, writeHealth, logger, clock.now()),
    );
    catalogVersion = await store.catalog.catalogVersion();
    catalog = new Catalog(await catalogStore.loadCatalog());
    tokenKey = await store.catalog.getOrCreateSetting('access_token_key', randomToken(32));
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  const tokens = new AccessTokens(tokenKey, catalog, clock);
  // One process on the embedded store sees every change it makes; shared stores also look.
  const refresher = new CatalogRefresher({
    store: catalogStore,
    catalog,
    logger,
    pollMs: store.capabilities.multipleWriters ? CATALOG_POLL_MS : 0,
    subscribe: store.onCatalogChange?.bind(store),
  });
  refresher.version = catalogVersion;
  refresher.start();
  const retryStartupWrites = writeHealth.failure
    ? setInterval(() => {
        startupWrites().then(
          async () => {
            clearInterval(retryStartupWrites);
            writeHealth.succeeded();
            await refresher.refresh();
            logger.info('storage takes writes again; the configured catalog is applied');
          },
          (error: unknown) => writeHealth.failed((error as Error).message, clock.now()),
        );
      }, STARTUP_RETRY_MS).unref()
    : undefined;
  const catalogAdmin = new CatalogAdmin({
    store: catalogStore,
    catalog,
    refresher,
    clock,
    configFile: config.configFile,
  });
  const outbound = new Outbound({ excerptBytes: config.delivery.responseExcerptBytes });
  const alerts = new AlertNotifier({ outbox: store.alerts, catalog, clock, logger, settings: config.alerts });
  const metrics = new Metrics({
    operators: store.operators,
    settings: config.metrics,
    now: () => clock.now(),
  });
  const dispatcher = new Dispatcher({
    onAttempt: (report) => metrics.attempted(report),
    queues: store.queues,
    catalog,
    clock,
    settings: config.delivery,
    logger,
    outbound,
    onAlert: (alert) => {
      alerts.notify(alert);
      options.onAlert?.(alert);
    },
  });
  const purger = new Purger({
    retention: store.retention,
    clock,
    logger,
    settings: config.retention,
    idempotencyWindowMs: config.server.idempotencyWindowMs,
  });
  // ioredis is loaded only when Redis is configured (see openStore on start-up time).
  const rateCounter = config.server.redisUrl
    ? new (await import('./api/rate-limit/redis-rate-counter.ts')).RedisRateCounter(
        config.server.redisUrl,
        config.server.redisKeyPrefix,
      )
    : new MemoryRateCounter();
  if (
    !config.server.publicUrl &&
    config.organizations.some((o) => o.sources.some((s) => s.jwks || s.jwksUrl))
  )
    logger.warn(
      'server.publicUrl is not set: the audience of JWT client assertions is checked against the token URL ' +
        'the request names in its Host header; set it in production (docs/configuration.md)',
    );
  if (store.capabilities.multipleWriters && !config.server.redisUrl)
    logger.warn('rate limits are counted per instance; set REDIS_URL to share them across instances');
  const signIns = new FailedSignIns({
    store: config.server.redisUrl
      ? new RedisLockoutStore(config.server.redisUrl, config.server.redisKeyPrefix)
      : new MemoryLockoutStore(() => clock.now()),
    rule: config.server.signInLockout,
    ipMaxFailures: config.server.signInLockout.ipMaxFailures,
    now: () => clock.now(),
    logger,
  });
  const queryClient = new QueryClient({ maxAnswerBytes: config.server.payloadLimitBytes });
  const app = buildApp({
    config,
    store,
    catalog,
    clock,
    logger,
    tokens,
    queryClient,
    rateCounter,
    signIns,
    writeHealth,
    wakeDelivery: (queues) => dispatcher.notify(queues),
    metrics,
    catalogAdmin,
  });
  let stopListening: (() => void) | undefined;
  if (config.delivery.enabled && options.delivery !== false) {
    // Other instances' new work wakes this one's dispatcher (PostgreSQL mode).
    stopListening = store.onWork?.(() => dispatcher.notify());
    dispatcher.start();
    void alerts.start();
  }
  purger.start();
  let address: string;
  try {
    address = await app.listen({ port: config.server.port, host: config.server.host });
  } catch (error) {
    refresher.close();
    await dispatcher.stop();
    await alerts.close();
    await purger.close();
    await store.close();
    throw error;
  }
  const url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
  let closed: Promise<void> | undefined;
  return {
    app,
    store,
    dispatcher,
    alerts,
    purger,
    catalog,
    url,
    close() {
      closed ??= (async () => {
        clearInterval(retryStartupWrites);
        await app.close();
        refresher.close();
        stopListening?.();
        await dispatcher.stop();
        await alerts.close();
        await purger.close();
        await outbound.close();
        await queryClient.close();
        await rateCounter.close();
        await signIns.close();
        await store.close();
      })();
      return closed;
    },
  };
}

/** How often start-up writes refused by storage (a full disk) are tried again. */
const STARTUP_RETRY_MS = 5_000;

/** A start-up write the storage refused: noted for readiness; anything else stops start-up. */
function refusedWrite(error: unknown, health: WriteHealth, logger: Logger, now: number): void {
  if (!(error instanceof StoreUnavailableError)) throw error;
  health.failed(error.message, now);
  logger.error(
    { reason: error.message },
    'start-up: storage refuses writes (a full disk?); serving reads, /readyz answers 503, ' +
      'and the configured catalog is applied once writes succeed again',
  );
}
