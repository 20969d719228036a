import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import {
  destinationSchema,
  NO_CREDENTIALS,
  organizationSchema,
  sourceSchema,
  SUBSCRIPTION_ROUTE,
  subscriptionRoute,
  subscriptionSchema,
} from './catalog/schemas.ts';
import { parseSecretKey } from './lib/secret-box.ts';

/**
 * Configuration is read once at start, validated, frozen and passed explicitly.
 * Every default of SPEC section 8 is a setting here.
 */
const ms = z.number().int().min(0);

const organizationFileSchema = organizationSchema
  .extend({
    platformKeys: z.array(z.string().min(16, 'must be at least 16 characters')).default([]),
    sources: z.array(sourceSchema).default([]),
    destinations: z.array(destinationSchema).default([]),
    subscriptions: z.array(subscriptionSchema).default([]),
  })
  .superRefine((org, ctx) => {
    const sources = new Set(org.sources.map((s) => s.id));
    const destinations = new Set(org.destinations.map((d) => d.id));
    unique(org.sources, 'sources', ctx);
    unique(org.destinations, 'destinations', ctx);
    org.subscriptions.forEach((s, i) => {
      if (!subscriptionRoute(s))
        ctx.addIssue({ code: 'custom', path: ['subscriptions', i], message: SUBSCRIPTION_ROUTE });
      if (!sources.has(s.source))
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', i, 'source'],
          message: `unknown source "${s.source}"`,
        });
      if (!destinations.has(s.destination))
        ctx.addIssue({
          code: 'custom',
          path: ['subscriptions', i, 'destination'],
          message: `unknown destination "${s.destination}"`,
        });
    });
    org.sources.forEach((s, i) => {
      if (!s.clientSecret && !s.jwks && !s.jwksUrl)
        ctx.addIssue({ code: 'custom', path: ['sources', i], message: NO_CREDENTIALS });
    });
  });

function unique(items: { id: string }[], path: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.id))
      ctx.addIssue({ code: 'custom', path: [path, i, 'id'], message: `duplicate id "${item.id}"` });
    seen.add(item.id);
  });
}

const deliverySchema = z.strictObject({
  /** False: this process serves the APIs only and leaves delivery to other instances. */
  enabled: z.boolean().default(true),
  asyncTimeoutMs: ms.min(1).default(60_000),
  syncTimeoutMs: ms.min(1).default(120_000),
  retryInitialDelayMs: ms.default(10_000),
  retryMaxDelayMs: ms.default(120_000),
  nonProductionRetryDelayMs: ms.default(5_000),
  alertAfterAttempts: z.number().int().min(1).default(3),
  leaseMs: ms.min(1_000).default(30_000),
  concurrency: z.number().int().min(1).max(10_000).default(256),
  batchSize: z.number().int().min(1).max(1_000).default(32),
  pollIntervalMs: ms.min(10).default(1_000),
  responseExcerptBytes: z.number().int().min(0).default(4_096),
  shutdownGraceMs: ms.default(10_000),
});

const alertSchema = z.strictObject({
  /** SMTP server for alert emails, e.g. smtp://user:pass@mail.example:587 (smtps:// for TLS). */
  smtpUrl: z.url({ protocol: /^smtps?$/ }).optional(),
  from: z.string().min(3).default('Switchboard <switchboard@localhost>'),
  /** Each channel (SMTP, each webhook) gets this long to take an alert. */
  timeoutMs: ms.min(100).default(10_000),
});

/** `GET /metrics` (Prometheus). */
const metricsSchema = z.strictObject({
  /** When set, a scrape must send `Authorization: Bearer <token>`; without it /metrics is open. */
  token: z.string().min(16).optional(),
  /**
   * Queue figures come from the store at scrape time, so every instance reports the same; they
   * are read at most once per this long, however many scrapers ask.
   */
  queueCacheMs: ms.min(0).default(1_000),
});

/**
 * What is kept, and for how long. Logs still pending are never deleted, whatever their age: only
 * logs that are done (succeeded, failed, filtered; queries) age out.
 */
const retentionSchema = z.strictObject({
  /** Done logs (with their attempts and messages) and alerts older than this are deleted; 0 keeps all. */
  logsMs: ms.default(30 * 24 * 3_600_000),
  /** How often the purge runs; the first run is one interval after start. */
  intervalMs: ms.min(1_000).default(3_600_000),
  /**
   * Logs deleted per transaction, so a purge never holds the store for long: on the embedded
   * store 250 take ~6 ms, 1,000 ~24 ms, which accepts and deliveries would wait out.
   */
  batchSize: z.number().int().min(1).max(100_000).default(250),
});

const secretKey = z.string().refine((text) => parseSecretKey(text) !== undefined, {
  message: 'must be 32 bytes in base64 or hex (e.g. openssl rand -base64 32)',
});

const serverSchema = z.strictObject({
  port: z.number().int().min(0).max(65_535).default(8080),
  host: z.string().default('0.0.0.0'),
  dataDir: z.string().default('./data'),
  databaseUrl: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
  /**
   * Connections each instance keeps to PostgreSQL (DATABASE_URL mode). Small, because instances
   * add up: PostgreSQL's default max_connections of 100 takes twelve instances at 8.
   */
  databasePoolSize: z.number().int().min(2).max(1_000).default(8),
  adminKey: z.string().min(16).optional(),
  /**
   * The key destinations' signing secrets and verification tokens are sealed with in the store
   * (AES-256-GCM): 32 bytes in base64 or hex, e.g. `openssl rand -base64 32`. Keys it replaced go
   * in `previousSecretKeys` until every secret is sealed anew (at the next start).
   */
  secretKey: secretKey.optional(),
  previousSecretKeys: z.array(secretKey).default([]),
  payloadLimitBytes: z
    .number()
    .int()
    .min(1)
    .default(10 * 1024 * 1024),
  rateLimit: z.number().int().min(1).default(7_500),
  rateWindowMs: ms.min(1).default(5 * 60_000),
  accessTokenSeconds: z.number().int().min(1).default(3_600),
  legacyTokenSeconds: z
    .number()
    .int()
    .min(1)
    .default(24 * 3_600),
  /** Refresh tokens of the legacy flow; each works once. */
  refreshTokenSeconds: z
    .number()
    .int()
    .min(1)
    .default(30 * 24 * 3_600),
  idempotencyWindowMs: ms.default(24 * 3_600_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Proxies (IPs or CIDRs) whose X-Forwarded-For is believed when finding the client IP. */
  trustedProxies: z.array(z.string().min(1)).default([]),
  /** Redis for rate-limit counts shared by every instance; without it each process counts alone. */
  redisUrl: z.string().optional(),
  /** Prefix of Switchboard's keys in that Redis, for deployments that share one. */
  redisKeyPrefix: z.string().min(1).default('switchboard'),
  /**
   * Brute-force guard of the token endpoints: a client ID failing `maxFailures` times within
   * `windowMs` (an IP: `ipMaxFailures`) gets 429 for `lockMs`, doubling per lockout up to `maxLockMs`.
   */
  signInLockout: z
    .strictObject({
      maxFailures: z.number().int().min(1).default(10),
      ipMaxFailures: z.number().int().min(1).default(100),
      windowMs: ms.min(1).default(60_000),
      lockMs: ms.min(1).default(60_000),
      maxLockMs: ms.min(1).default(3_600_000),
    })
    .default({ maxFailures: 10, ipMaxFailures: 100, windowMs: 60_000, lockMs: 60_000, maxLockMs: 3_600_000 }),
  /**
   * Request body bytes held at once; beyond it new requests get 503 with Retry-After before their
   * body is read (api/body-budget.ts).
   */
  inFlightBodyBytes: z
    .number()
    .int()
    .min(1)
    .default(64 * 1024 * 1024),
  /**
   * The embedded store refuses new messages (503, `/readyz` 503) while its disk has less free
   * space than this, at most a twentieth of the disk; 0 turns it off (store/sqlite/disk-guard.ts).
   */
  diskFreeLimitBytes: z
    .number()
    .int()
    .min(0)
    .default(64 * 1024 * 1024),
  /** Slow-loris guards: the whole header, and the whole request, must arrive within these. */
  headersTimeoutMs: ms.min(100).default(30_000),
  requestTimeoutMs: ms.min(100).default(120_000),
  keepAliveTimeoutMs: ms.min(100).default(72_000),
  /** Base URL the server is reached at; `aud` of JWT assertions is checked against it. */
  publicUrl: z.url().optional(),
});

const configSchema = z
  .strictObject({
    server: serverSchema.default(serverSchema.parse({})),
    delivery: deliverySchema.default(deliverySchema.parse({})),
    alerts: alertSchema.default(alertSchema.parse({})),
    retention: retentionSchema.default(retentionSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    organizations: z.array(organizationFileSchema).default([]),
    /** Where this configuration was read from; set by `loadConfig`, named in API refusals. */
    configFile: z.string().optional(),
  })
  .superRefine((config, ctx) => {
    unique(config.organizations, 'organizations', ctx);
    const clientIds = new Map<string, string>();
    config.organizations.forEach((org, o) =>
      org.sources.forEach((s, i) => {
        const other = clientIds.get(s.clientId);
        if (other)
          ctx.addIssue({
            code: 'custom',
            path: ['organizations', o, 'sources', i, 'clientId'],
            message: `clientId "${s.clientId}" is already used by ${other}`,
          });
        clientIds.set(s.clientId, `${org.id}/${s.id}`);
      }),
    );
  });

export type Config = z.infer<typeof configSchema>;
export type OrganizationConfig = z.infer<typeof organizationFileSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type DestinationConfig = z.infer<typeof destinationSchema>;
export type DeliverySettings = Config['delivery'];
export type ServerSettings = Config['server'];
export type AlertSettings = Config['alerts'];
export type RetentionSettings = Config['retention'];
export type MetricsSettings = Config['metrics'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates a raw config object; throws a ConfigError naming every bad field. */
export function parseConfig(raw: unknown): Readonly<Config> {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

type Env = Record<string, string | undefined>;

/** Reads SWITCHBOARD_CONFIG (if set) and applies the environment variables on top. */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  let raw: Record<string, unknown> = {};
  if (env.SWITCHBOARD_CONFIG) {
    const path = resolve(env.SWITCHBOARD_CONFIG);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`Cannot read SWITCHBOARD_CONFIG file ${path}: ${(error as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`SWITCHBOARD_CONFIG file ${path} is not valid JSON: ${(error as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new ConfigError(`SWITCHBOARD_CONFIG file ${path} must hold a JSON object`);
  }
  const server = { ...((raw.server as Record<string, unknown> | undefined) ?? {}) };
  if (env.PORT !== undefined) server.port = toInt(env.PORT, 'PORT');
  if (env.HOST) server.host = env.HOST;
  if (env.DATA_DIR) server.dataDir = env.DATA_DIR;
  if (env.DATABASE_URL) server.databaseUrl = env.DATABASE_URL;
  if (env.DATABASE_POOL_SIZE !== undefined)
    server.databasePoolSize = toInt(env.DATABASE_POOL_SIZE, 'DATABASE_POOL_SIZE');
  if (env.SWITCHBOARD_ADMIN_KEY) server.adminKey = env.SWITCHBOARD_ADMIN_KEY;
  if (env.SWITCHBOARD_SECRET_KEY) server.secretKey = env.SWITCHBOARD_SECRET_KEY;
  if (env.SWITCHBOARD_SECRET_KEY_PREVIOUS)
    server.previousSecretKeys = env.SWITCHBOARD_SECRET_KEY_PREVIOUS.split(',').map((k) => k.trim());
  if (env.LOG_LEVEL) server.logLevel = env.LOG_LEVEL;
  if (env.REDIS_URL) server.redisUrl = env.REDIS_URL;
  const alerts = { ...((raw.alerts as Record<string, unknown> | undefined) ?? {}) };
  if (env.SMTP_URL) alerts.smtpUrl = env.SMTP_URL;
  const configFile = env.SWITCHBOARD_CONFIG ? resolve(env.SWITCHBOARD_CONFIG) : undefined;
  return parseConfig({ ...raw, server, alerts, ...(configFile ? { configFile } : {}) });
}

function toInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n))
    throw new ConfigError(`Invalid configuration:\n  ${name}: must be a whole number`);
  return n;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
