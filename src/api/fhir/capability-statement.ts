import { FHIR_RESOURCE_TYPES } from '../../models/fhir.ts';

/**
 * Switchboard's own CapabilityStatement (R4) for one organization and environment's FHIR base
 * (SPEC 2.3 `metadata`): every resource type can be read, searched, created and updated through
 * to the destination; tokens come from the OAuth token endpoint. It is the same whatever the
 * organization, so it tells nothing about which organizations exist.
 */
export function capabilityStatement(
  base: string,
  path: { org: string; env: string },
): Record<string, unknown> {
  const root = base.replace(/\/+$/, '');
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-12-01',
    kind: 'instance',
    publisher: 'Switchboard',
    software: { name: 'Switchboard' },
    implementation: {
      description: 'Switchboard FHIR R4 gateway',
      url: `${root}/fhir/R4/${encodeURIComponent(path.org)}/${encodeURIComponent(path.env)}`,
    },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        security: {
          service: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' },
              ],
            },
          ],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${root}/v2/auth/token` }],
            },
          ],
        },
        operation: [
          {
            name: 'process-message',
            definition: 'http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message',
          },
        ],
        resource: [...FHIR_RESOURCE_TYPES].sort().map((type) => ({
          type,
          interaction: [{ code: 'read' }, { code: 'search-type' }, { code: 'create' }, { code: 'update' }],
        })),
      },
    ],
  };
}
