import { parseConfig, type Config } from '../../src/config.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { startServer, type Server } from '../../src/server.ts';
import { createStorage, type TestStorage } from './storage.ts';
import { waitFor } from './wait.ts';

export const PLATFORM_KEY = 'pk_test_acme_0123456789';
export const OTHER_PLATFORM_KEY = 'pk_test_other_0123456789';
export const SECRET = 'test-secret-0123456789';

export type Environment = 'production' | 'staging' | 'development';

export interface HarnessDestination {
  id: string;
  url: string;
  environment?: Environment;
  signingSecret?: string;
  verificationToken?: string;
  timeoutMs?: number;
  queryTimeoutMs?: number;
  fhirBaseUrl?: string;
  orderingKey?: string;
  maxInFlight?: number;
}

export interface HarnessOptions {
  destinations: HarnessDestination[];
  /** Destination ids subscribed to PatientAdmin from source `ehr`; default: all. */
  subscribed?: string[];
  /** More sources of organization `acme`, and changes to its source `ehr` (e.g. `disabled`). */
  extraSources?: Record<string, unknown>[];
  ehr?: Record<string, unknown>;
  /** More settings of organization `acme` (e.g. `rateLimit`). */
  acme?: Record<string, unknown>;
  /** More subscriptions of source `ehr`. */
  extraSubscriptions?: {
    dataModel?: string;
    destination: string;
    eventTypes?: string[];
    fhirEvents?: string[];
  }[];
  /**
   * Destinations of organization `other` (default: one unreachable `private`), and those its
   * source `ehr` subscribes to PatientAdmin (default: none).
   */
  other?: { destinations?: HarnessDestination[]; subscribed?: string[] };
  delivery?: Partial<Config['delivery']>;
  alerts?: Partial<Config['alerts']>;
  retention?: Partial<Config['retention']>;
  metrics?: Partial<Config['metrics']>;
  server?: Partial<Config['server']>;
  /** The config file's path, as `loadConfig` would record it. */
  configFile?: string;
  /** Where the data lives (see storage.ts); by default a fresh one, removed at close. */
  storage?: TestStorage;
}

/** Config of one organization `acme` (source `ehr`) plus an organization `other` for isolation tests. */
export function harnessConfig(options: HarnessOptions, storage: StorageSettings): Readonly<Config> {
  return parseConfig(harnessConfigFile(options, storage));
}

/** What of a storage goes into a server's settings. */
export type StorageSettings = Pick<TestStorage, 'dataDir' | 'databaseUrl'>;

/**
 * The same config as the contents of a config file, for tests that run the server as a child
 * process, on `storage` (its data directory and, on PostgreSQL, its database).
 */
export function harnessConfigFile(
  options: HarnessOptions,
  storage: StorageSettings,
): Record<string, unknown> {
  return {
    server: {
      port: 0,
      host: '127.0.0.1',
      dataDir: storage.dataDir,
      databaseUrl: storage.databaseUrl,
      logLevel: 'silent',
      ...options.server,
    },
    delivery: { shutdownGraceMs: 2_000, ...options.delivery },
    alerts: { timeoutMs: 2_000, ...options.alerts },
    ...(options.retention ? { retention: options.retention } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.configFile ? { configFile: options.configFile } : {}),
    organizations: [
      {
        id: 'acme',
        name: 'Acme Health',
        platformKeys: [PLATFORM_KEY],
        ...options.acme,
        sources: [
          {
            id: 'ehr',
            name: 'Acme EHR',
            environment: 'production',
            clientId: 'ehr-client',
            clientSecret: SECRET,
            ...options.ehr,
          },
          ...(options.extraSources ?? []),
        ],
        destinations: options.destinations.map((d) => ({
          name: `Destination ${d.id}`,
          environment: 'production',
          verificationToken: `token-${d.id}`,
          ...d,
        })),
        subscriptions: [
          ...(options.subscribed ?? options.destinations.map((d) => d.id)).map((id) => ({
            source: 'ehr',
            dataModel: 'PatientAdmin',
            destination: id,
          })),
          ...(options.extraSubscriptions ?? []).map((s) => ({ source: 'ehr', ...s })),
        ],
      },
      {
        id: 'other',
        name: 'Other Health',
        platformKeys: [OTHER_PLATFORM_KEY],
        sources: [
          {
            id: 'ehr',
            name: 'Other EHR',
            environment: 'production',
            clientId: 'other-client',
            clientSecret: SECRET,
          },
        ],
        destinations: options.other?.destinations?.map((d) => ({
          name: `Other destination ${d.id}`,
          environment: 'production',
          verificationToken: `token-${d.id}`,
          ...d,
        })) ?? [{ id: 'private', name: 'Other app', environment: 'production', url: 'http://127.0.0.1:9/x' }],
        subscriptions: (options.other?.subscribed ?? []).map((id) => ({
          source: 'ehr',
          dataModel: 'PatientAdmin',
          destination: id,
        })),
      },
    ],
  };
}

export interface Harness {
  server: Server;
  clock: ManualClock;
  url: string;
  storage: TestStorage;
  token(clientId?: string): Promise<string>;
  send(body: unknown, options?: { token?: string; headers?: Record<string, string> }): Promise<Answer>;
  platform(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    key?: string,
  ): Promise<Answer>;
  /**
   * Resolves once delivery has looked for work since the call and has nothing due or running,
   * and every alert raised is sent: what has not happened by then will not happen on its own.
   */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  headers: Headers;
  // Test code reads arbitrary JSON answers; a precise type per route would add nothing here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/**
 * Starts the real server on a free port with a manual clock, on a fresh store (SQLite, or
 * PostgreSQL with TEST_STORE=postgres) unless `options.storage` names one.
 */
export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const storage = options.storage ?? (await createStorage('test'));
  const clock = new ManualClock(Date.now());
  let server: Server;
  try {
    server = await startServer(harnessConfig(options, storage), {
      clock,
      logger: createLogger(process.env.TEST_LOG_LEVEL === 'error' ? 'error' : 'silent'),
    });
  } catch (error) {
    if (!options.storage) await storage.remove();
    throw error;
  }
  const tokens = new Map<string, string>();
  const harness: Harness = {
    server,
    clock,
    url: server.url,
    storage,
    async token(clientId = 'ehr-client') {
      const cached = tokens.get(clientId);
      if (cached) return cached;
      const res = await request(server.url, 'POST', '/v2/auth/token', {
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: SECRET,
        }),
      });
      if (res.status !== 200) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
      tokens.set(clientId, res.body.access_token as string);
      return res.body.access_token as string;
    },
    async send(body, opts = {}) {
      const token = opts.token ?? (await harness.token());
      return request(server.url, 'POST', '/endpoint', {
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...opts.headers },
      });
    },
    platform(method, path, body, key = PLATFORM_KEY) {
      return request(server.url, method, path, {
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      });
    },
    async settled() {
      await server.dispatcher.settled();
      await server.alerts.idle();
    },
    async close() {
      await server.close();
      if (!options.storage) await storage.remove();
    },
  };
  return harness;
}

export async function request(
  base: string,
  method: string,
  path: string,
  init: { body?: string | URLSearchParams; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(base + path, { method, body: init.body, headers: init.headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON; the text is the body.
  }
  return { status: res.status, headers: res.headers, body };
}

export function patientAdmin(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Meta: {
      DataModel: 'PatientAdmin',
      EventType: 'NewPatient',
      EventDateTime: new Date().toISOString(),
      ...extra,
    },
    Patient: { Identifiers: [{ ID: `MRN-${n}`, IDType: 'MR' }], Demographics: { FirstName: `Pat${n}` } },
  };
}

/**
 * Waits until the head log of destination `destination` has `attempts` recorded attempts. The
 * receiver sees a request before Switchboard sees the answer, and the next retry is scheduled
 * from the time the answer arrives, so a test must not move the clock in between.
 */
export async function attemptsRecorded(h: Harness, attempts: number, destination = 'app'): Promise<void> {
  await waitFor(
    async () =>
      (await h.platform('GET', `/platform/v1/destinations/${destination}/queue`)).body.head?.attemptCount ===
      attempts,
    5_000,
    `attempt ${attempts} recorded`,
  );
}
