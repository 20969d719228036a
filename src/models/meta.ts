import { canonicalDataModel } from './data-models.ts';

/** The parts of an inbound payload's `Meta` that Switchboard reads. */
export interface InboundMeta {
  DataModel: string;
  EventType: string;
  EventDateTime?: string;
  Test: boolean;
  Destinations?: { ID: string }[];
}

export type MetaCheck =
  | { ok: true; meta: InboundMeta; dataModel: string }
  | { ok: false; status: 400 | 404; text: string; echo: Record<string, unknown> };

type Json = Record<string, unknown>;

/** A JSON object (not an array, not null). */
export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates `Meta` of a Data Model API payload. The error texts follow Redox's wording
 * ("Required field missing - Meta.DataModel") so existing clients can match on them.
 */
export function checkMeta(body: unknown): MetaCheck {
  if (!isObject(body)) return invalid('Request body must be a JSON object', {});
  const meta = body.Meta;
  if (meta === undefined) return invalid('Required field missing - Meta', {});
  if (!isObject(meta)) return invalid('Invalid field type - Meta must be an object', {});
  const echo = echoMeta(meta);
  for (const field of ['DataModel', 'EventType'] as const) {
    const value = meta[field];
    if (value === undefined || value === null || value === '')
      return invalid(`Required field missing - Meta.${field}`, echo);
    if (typeof value !== 'string')
      return invalid(`Invalid field type - Meta.${field} must be a string`, echo);
  }
  if (meta.Test !== undefined && meta.Test !== null && typeof meta.Test !== 'boolean')
    return invalid('Invalid field type - Meta.Test must be true or false', echo);
  if (
    meta.EventDateTime !== undefined &&
    meta.EventDateTime !== null &&
    typeof meta.EventDateTime !== 'string'
  )
    return invalid('Invalid field type - Meta.EventDateTime must be a string', echo);
  let destinations: { ID: string }[] | undefined;
  if (meta.Destinations !== undefined && meta.Destinations !== null) {
    if (!Array.isArray(meta.Destinations))
      return invalid('Invalid field type - Meta.Destinations must be an array', echo);
    destinations = [];
    for (const [i, item] of meta.Destinations.entries()) {
      if (!isObject(item) || item.ID === undefined || item.ID === null || item.ID === '')
        return invalid(`Required field missing - Meta.Destinations[${i}].ID`, echo);
      if (typeof item.ID !== 'string')
        return invalid(`Invalid field type - Meta.Destinations[${i}].ID must be a string`, echo);
      destinations.push({ ID: item.ID });
    }
  }
  const dataModel = canonicalDataModel(meta.DataModel as string);
  if (!dataModel)
    return { ok: false, status: 404, text: `Unknown data model - ${String(meta.DataModel)}`, echo };
  return {
    ok: true,
    dataModel,
    meta: {
      DataModel: meta.DataModel as string,
      EventType: meta.EventType as string,
      EventDateTime: meta.EventDateTime as string | undefined,
      Test: meta.Test === true,
      Destinations: destinations,
    },
  };
}

function invalid(text: string, echo: Json): MetaCheck {
  return { ok: false, status: 400, text, echo };
}

/** The request's Meta fields that are safe to echo back in an error answer. */
export function echoMeta(meta: Json): Json {
  const echo: Json = {};
  for (const field of ['DataModel', 'EventType', 'EventDateTime', 'Test'] as const) {
    const value = meta[field];
    if (typeof value === 'string' || typeof value === 'boolean') echo[field] = value;
  }
  return echo;
}
