import { z } from 'zod';

/**
 * Schemas of requests whose validation lives elsewhere (the Data Model payload is checked by
 * `models/meta.ts`, token forms by the token routes), declared for the OpenAPI document. The
 * Platform API's query and body schemas are the very ones its routes validate with.
 */

export const idParams = z.object({ id: z.string().describe('The ID, as it appears in the API') });

/** A Redox Data Model payload: `Meta` plus the model's own fields, which pass through untouched. */
export const dataModelMessage = z.looseObject({
  Meta: z.looseObject({
    DataModel: z
      .string()
      .describe('e.g. PatientAdmin; spelled-out names ("Patient Admin") are the same model'),
    EventType: z.string().describe('e.g. NewPatient'),
    EventDateTime: z.string().optional(),
    Test: z.boolean().optional(),
    Destinations: z
      .array(z.looseObject({ ID: z.string() }))
      .optional()
      .describe('Explicit destinations; without them the subscriptions decide'),
  }),
});

export const tokenForm = z.object({
  grant_type: z.literal('client_credentials'),
  client_id: z.string().optional(),
  client_secret: z.string().optional().describe('Or the client ID and secret in HTTP Basic'),
  client_assertion_type: z.literal('urn:ietf:params:oauth:client-assertion-type:jwt-bearer').optional(),
  client_assertion: z.string().optional().describe('A JWT signed with the source key (private_key_jwt)'),
  scope: z.string().optional(),
});

export const legacyAuthenticate = z.object({ apiKey: z.string(), secret: z.string() });
export const legacyRefresh = z.object({ apiKey: z.string(), refreshToken: z.string() });

export const fhirParams = z.object({
  org: z.string().describe("The source's organization"),
  env: z.enum(['production', 'staging', 'development']).describe("The source's environment"),
  type: z.string().describe('An R4 resource type, e.g. Patient'),
});
export const fhirReadParams = fhirParams.extend({ id: z.string().describe('A FHIR resource id') });

export const FORM = 'application/x-www-form-urlencoded';
export const sourceToken = [{ sourceToken: [] }];
export const platformKey = [{ platformKey: [] }];

/** A page of a newest-first list: an opaque cursor from the previous page, and up to 500 items. */
export const pageQuery = z.strictObject({
  cursor: z.string().max(64).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/)
    .transform(Number)
    .pipe(z.number().min(1).max(500))
    .optional(),
});
