export type Environment = 'production' | 'staging' | 'development';

export interface Organization {
  id: string;
  name: string;
  alertEmail?: string;
  /** Slack-compatible incoming-webhook URLs that also get alerts. */
  alertWebhooks?: string[];
  rateLimit?: number;
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
}

export interface Subscription {
  orgId: string;
  sourceId: string;
  /** Canonical data model name. */
  dataModel: string;
  /** Undefined: every event type of the data model. */
  eventTypes?: string[];
  destinationId: string;
}

/** What the store returns of the configured tenants; the in-memory catalog is built from it. */
export interface CatalogSnapshot {
  organizations: Organization[];
  sources: Source[];
  destinations: Destination[];
  subscriptions: Subscription[];
  platformKeys: { orgId: string; keyDigest: string }[];
}
