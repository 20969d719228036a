import { z } from 'zod';
import { canonicalDataModel } from '../models/data-models.ts';
import { isOrderingKeyPath } from '../models/ordering-key.ts';

/**
 * One schema per catalog resource, shared by the config file's loader (`config.ts`) and the
 * Platform API (`api/platform/catalog-routes.ts`), so a field means the same in both and a bad
 * one is named the same way.
 */
export const resourceId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._~-]+$/, 'may hold only letters, digits and . _ ~ -');
export const environment = z.enum(['production', 'staging', 'development']);
const ms = z.number().int().min(0);
const secret = z.string().min(16, 'must be at least 16 characters');

export const sourceSchema = z.strictObject({
  id: resourceId,
  name: z.string().min(1),
  environment,
  clientId: z.string().min(1).max(256),
  clientSecret: secret.optional(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional(),
  jwksUrl: z.url().optional(),
  /** A disabled source cannot get tokens, and the tokens it has stop working. */
  disabled: z.boolean().default(false),
  /** Payload checks against the data model catalogue: refuse (`strict`), record (`warn`) or none. */
  validation: z.enum(['strict', 'warn', 'off']).default('strict'),
});

export const destinationSchema = z.strictObject({
  id: resourceId,
  name: z.string().min(1),
  environment,
  url: z.url({ protocol: /^https?$/ }),
  fhirBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
  verificationToken: z.string().min(1).optional(),
  signingSecret: secret.optional(),
  timeoutMs: ms.min(1).optional(),
  queryTimeoutMs: ms.min(1).optional(),
  retryInitialDelayMs: ms.optional(),
  retryMaxDelayMs: ms.optional(),
  /** RFC 9535 JSONPath of an ordering key (SPEC 5.2), e.g. `$.Patient.Identifiers[0].ID`. */
  orderingKey: z
    .string()
    .min(1)
    .max(1_000)
    .refine(isOrderingKeyPath, { message: 'is not a valid RFC 9535 JSONPath' })
    .optional(),
  /** Ordering keys in flight at once; 1 (strict FIFO) when not set. */
  maxInFlight: z.number().int().min(1).max(1_000).optional(),
});

export const subscriptionSchema = z.strictObject({
  /** Given or derived (config file: from its source, data model and destination). */
  id: resourceId.optional(),
  source: resourceId,
  dataModel: z
    .string()
    .refine((name) => canonicalDataModel(name) !== undefined, {
      error: (issue) => `unknown data model "${String(issue.input)}"`,
    })
    .optional(),
  eventTypes: z.array(z.string().min(1)).optional(),
  /** FHIR messages instead: event codes (`system|code` or `code`) or event URIs (SPEC 2.3). */
  fhirEvents: z.array(z.string().min(1).max(1_000)).min(1).optional(),
  destination: resourceId,
});

/** FHIR messages are routed as the data model `FHIR`, their events as its event types. */
export const FHIR_DATA_MODEL = 'FHIR';

/**
 * What a subscription routes: a data model (with its event types, or all), or FHIR messages
 * by event. Exactly one of `dataModel` and `fhirEvents`; undefined when that does not hold.
 */
export function subscriptionRoute(
  input: SubscriptionInput,
): { dataModel: string; eventTypes?: string[] } | undefined {
  if (input.fhirEvents && !input.dataModel && !input.eventTypes)
    return { dataModel: FHIR_DATA_MODEL, eventTypes: input.fhirEvents };
  if (input.dataModel && !input.fhirEvents)
    return {
      dataModel: canonicalDataModel(input.dataModel) ?? input.dataModel,
      ...(input.eventTypes ? { eventTypes: input.eventTypes } : {}),
    };
  return undefined;
}

export const SUBSCRIPTION_ROUTE = 'needs either dataModel (with eventTypes, or all of them) or fhirEvents';

/** An organization's own fields (the config file adds its keys, sources, ... beside them). */
export const organizationSchema = z.strictObject({
  id: resourceId,
  name: z.string().min(1),
  alertEmail: z.email().optional(),
  /** Slack (or any) incoming-webhook URLs that get the same alerts as a JSON POST. */
  alertWebhooks: z.array(z.url({ protocol: /^https?$/ })).default([]),
  /** Requests per client IP per rate window for this organization's traffic (below the server's). */
  rateLimit: z.number().int().min(1).optional(),
});

export const platformKeySchema = z.strictObject({ name: z.string().min(1).max(200) });

/** Shown for a source that authenticates with no secret and no keys. */
export const NO_CREDENTIALS = 'needs clientSecret, jwks or jwksUrl';

export type SourceInput = z.infer<typeof sourceSchema>;
export type DestinationInput = z.infer<typeof destinationSchema>;
export type SubscriptionInput = z.infer<typeof subscriptionSchema>;
export type OrganizationInput = z.infer<typeof organizationSchema>;
