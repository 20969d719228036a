import type { z } from 'zod';
import { FHIR_DATA_MODEL, SUBSCRIPTION_ROUTE, subscriptionRoute } from '../catalog/schemas.ts';
import type {
  destinationSchema,
  organizationSchema,
  sourceSchema,
  subscriptionSchema,
} from '../catalog/schemas.ts';
import type { Destination, Organization, Source, Subscription } from '../models/entities.ts';
import { ApiError } from '../errors.ts';
import { parseInput } from '../lib/parse-input.ts';

/**
 * The catalog's resources as the Platform API reads and writes them: the config file's object
 * for each (SPEC 6), converted to and from the stored entities. Secrets are write-only, so the
 * answers say whether one is set, never what it is.
 */

export const SECRET_FIELDS = new Set(['clientSecret', 'signingSecret', 'verificationToken']);

/** `{...current, ...patch}`, where a `null` in the patch removes the field (JSON Merge Patch). */
export function mergePatch<T extends z.ZodType>(
  schema: T,
  current: Record<string, unknown>,
  patch: unknown,
): z.infer<T> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
    throw new ApiError('INVALID_FIELD', 'Invalid parameter request: the body must be a JSON object');
  const merged: Record<string, unknown> = { ...current };
  for (const [field, value] of Object.entries(patch)) {
    if (field === 'id' && value !== current.id)
      throw new ApiError('INVALID_FIELD', 'Invalid parameter id: an id cannot change; create a new resource');
    if (value === null) Reflect.deleteProperty(merged, field);
    else merged[field] = value;
  }
  return parseInput(schema, merged);
}

/** The fields whose values differ, secrets as "***": what the audit trail keeps of an update. */
export function changedFields(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const field of new Set([...Object.keys(before), ...Object.keys(after)]))
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field]))
      changes[field] = SECRET_FIELDS.has(field) ? '***' : (after[field] ?? null);
  return changes;
}

/** A resource's fields for the audit trail of its creation, secrets as "***". */
export function auditFields(input: Record<string, unknown>): Record<string, unknown> {
  return changedFields({}, input);
}

export function organizationInput(org: Organization): z.input<typeof organizationSchema> {
  return strip({
    id: org.id,
    name: org.name,
    alertEmail: org.alertEmail,
    alertWebhooks: org.alertWebhooks ?? [],
    rateLimit: org.rateLimit,
  });
}

export function organizationOf(input: z.infer<typeof organizationSchema>): Organization {
  return strip({ ...input });
}

/** A source's fields, without its secret (stored only as a hash). */
export function sourceInput(s: Source): z.input<typeof sourceSchema> {
  return strip({
    id: s.id,
    name: s.name,
    environment: s.environment,
    clientId: s.clientId,
    jwks: s.jwks as z.input<typeof sourceSchema>['jwks'],
    jwksUrl: s.jwksUrl,
    disabled: s.disabled,
    validation: s.validation ?? 'strict',
  });
}

export function sourceOf(orgId: string, input: z.infer<typeof sourceSchema>, secretHash?: string): Source {
  return strip({
    orgId,
    id: input.id,
    name: input.name,
    environment: input.environment,
    clientId: input.clientId,
    jwks: input.jwks,
    jwksUrl: input.jwksUrl,
    disabled: input.disabled,
    validation: input.validation,
    secretHash,
  });
}

export function destinationInput(d: Destination): z.input<typeof destinationSchema> {
  const fields: Record<string, unknown> = { ...d };
  Reflect.deleteProperty(fields, 'orgId');
  Reflect.deleteProperty(fields, 'origin');
  return strip(fields) as z.input<typeof destinationSchema>;
}

export function destinationOf(orgId: string, input: z.infer<typeof destinationSchema>): Destination {
  return strip({ orgId, ...input });
}

export function subscriptionInput(s: Subscription): z.input<typeof subscriptionSchema> {
  if (s.dataModel === FHIR_DATA_MODEL)
    return strip({ id: s.id, source: s.sourceId, fhirEvents: s.eventTypes, destination: s.destinationId });
  return strip({
    id: s.id,
    source: s.sourceId,
    dataModel: s.dataModel,
    eventTypes: s.eventTypes,
    destination: s.destinationId,
  });
}

export function subscriptionOf(
  orgId: string,
  id: string,
  input: z.infer<typeof subscriptionSchema>,
): Subscription {
  const route = subscriptionRoute(input);
  if (!route) throw new ApiError('INVALID_FIELD', `Invalid parameter dataModel: ${SUBSCRIPTION_ROUTE}`);
  return strip({
    orgId,
    id,
    sourceId: input.source,
    dataModel: route.dataModel,
    eventTypes: route.eventTypes,
    destinationId: input.destination,
  });
}

/** Drops undefined fields, so that a stored entity and a parsed input compare field by field. */
function strip<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
