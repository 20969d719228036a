export type Environment = 'production' | 'staging' | 'development';

/**
 * Who manages an entity: the config file (reapplied at every start, refused through the API) or
 * the Platform API. Undefined reads as 'api'.
 */
export type Origin = 'file' | 'api';

/** How a source's payloads are checked against the data model catalogue (SPEC 2.2). */
export type ValidationMode = 'strict' | 'warn' | 'off';

export interface Organization {
  id: string;
  name: string;
  alertEmail?: string;
  /** Slack-compatible incoming-webhook URLs that also get alerts. */
  alertWebhooks?: string[];
  rateLimit?: number;
  origin?: Origin;
}

export interface Source {
  orgId: string;
  id: string;
  name: string;
  environment: Environment;
  clientId: string;
  secretHash?: string;
  jwks?: unknown;
  jwksUrl?: string;
  disabled: boolean;
  /** Undefined reads as `strict`. */
  validation?: ValidationMode;
  origin?: Origin;
}

export interface Destination {
  orgId: string;
  id: string;
  name: string;
  environment: Environment;
  url: string;
  fhirBaseUrl?: string;
  verificationToken?: string;
  signingSecret?: string;
  timeoutMs?: number;
  /** Timeout of synchronous queries to this destination; the server's `syncTimeoutMs` otherwise. */
  queryTimeoutMs?: number;
  retryInitialDelayMs?: number;
  retryMaxDelayMs?: number;
  /** RFC 9535 JSONPath of the payload's ordering key (SPEC 5.2); none: strict FIFO. */
  orderingKey?: string;
  /** Keys in flight at once (with an `orderingKey`); 1 when not set. */
  maxInFlight?: number;
  origin?: Origin;
}

export interface Subscription {
  orgId: string;
  id: string;
  sourceId: string;
  /** Canonical data model name. */
  dataModel: string;
  /** Undefined: every event type of the data model. */
  eventTypes?: string[];
  destinationId: string;
  origin?: Origin;
}

/** An organization's platform API key, known by its digest (the key itself is never stored). */
export interface PlatformKey {
  orgId: string;
  id: string;
  name: string;
  keyDigest: string;
  createdAt: number | null;
  origin?: Origin;
}

/** What the store returns of the configured tenants; the in-memory catalog is built from it. */
export interface CatalogSnapshot {
  organizations: Organization[];
  sources: Source[];
  destinations: Destination[];
  subscriptions: Subscription[];
  platformKeys: PlatformKey[];
}
