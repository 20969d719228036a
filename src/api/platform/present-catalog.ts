import type { Destination, Organization, PlatformKey, Source, Subscription } from '../../models/entities.ts';
import {
  destinationInput,
  organizationInput,
  sourceInput,
  subscriptionInput,
} from '../../services/catalog-resources.ts';

/**
 * The catalog's resources as the Platform API answers them: the config file's object (SPEC 7),
 * secrets replaced by whether they are set, and who manages the resource (`file` or `api`).
 */

const managedBy = (origin: string | undefined): string => origin ?? 'api';

export function presentOrganization(org: Organization): Record<string, unknown> {
  return { ...organizationInput(org), managedBy: managedBy(org.origin) };
}

export function presentSource(source: Source): Record<string, unknown> {
  return {
    ...sourceInput(source),
    clientSecretSet: source.secretHash !== undefined,
    managedBy: managedBy(source.origin),
  };
}

export function presentDestination(destination: Destination): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...destinationInput(destination) };
  Reflect.deleteProperty(fields, 'signingSecret');
  Reflect.deleteProperty(fields, 'verificationToken');
  return {
    ...fields,
    signingSecretSet: destination.signingSecret !== undefined,
    verificationTokenSet: destination.verificationToken !== undefined,
    managedBy: managedBy(destination.origin),
  };
}

export function presentSubscription(subscription: Subscription): Record<string, unknown> {
  return { ...subscriptionInput(subscription), managedBy: managedBy(subscription.origin) };
}

export function presentPlatformKey(key: PlatformKey): Record<string, unknown> {
  return {
    id: key.id,
    name: key.name,
    createdAt: key.createdAt === null ? null : new Date(key.createdAt).toISOString(),
    managedBy: managedBy(key.origin),
  };
}
