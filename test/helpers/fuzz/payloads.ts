// Random JSON and Data Model API bodies, valid or hostile in one of many ways.
import { MARK, MB, type Org, type Rng } from './context.ts';
import {
  INVALID_UTF8,
  json,
  KEYS,
  META_FIELDS,
  NUMBERS,
  POLLUTERS,
  STRINGS,
  WRONG_VALUES,
} from './values.ts';

export function randomString(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(STRINGS);
  let s = '';
  for (let n = rng.int(24); n > 0; n--)
    s += String.fromCodePoint(rng.pick([0x20 + rng.int(95), 0x80 + rng.int(0x780), 0x1f600 + rng.int(80)]));
  return s;
}

export function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick(NUMBERS);
    case 3:
    case 4:
      return randomString(rng);
    case 5:
    case 6:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let n = rng.int(6); n > 0; n--)
        object[rng.chance(0.6) ? rng.pick(KEYS) : randomString(rng)] = randomJson(rng, depth + 1);
      return object;
    }
  }
}

export function validMessage(rng: Rng, org: Org | undefined, query: boolean): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    DataModel: query
      ? rng.pick(['PatientSearch', 'PatientSearch', 'PatientAdmin', 'Clinical Summary'])
      : rng.pick(['PatientAdmin', 'PatientAdmin', 'Patient Admin', 'Scheduling']),
    EventType: rng.pick(['NewPatient', 'Arrival', 'Query']),
  };
  if (rng.chance(0.4)) meta.EventDateTime = new Date(1_760_000_000_000).toISOString();
  if (rng.chance(0.3)) meta.Test = rng.chance(0.5);
  if (rng.chance(0.4))
    meta.Destinations = rng.pick([
      [{ ID: 'app' }],
      [{ ID: 'app2' }],
      [{ ID: 'app' }, { ID: 'app2' }],
      [{ ID: 'app' }, { ID: 'app' }],
      [{ ID: 'private' }],
    ]);
  return {
    Meta: meta,
    Patient: { Identifiers: [{ ID: `${MARK[org ?? 'acme']}-${rng.int(1e6)}`, IDType: 'MR' }] },
  };
}

/** The message as JSON text with `fragment` spliced in first in the object at `where`. */
export function inject(message: Record<string, unknown>, where: string, fragment: string): string {
  const marker = { __INJECT_HERE__: 0 };
  const copy = structuredClone(message) as Record<string, unknown> & { Meta: Record<string, unknown> };
  if (where === 'meta') copy.Meta = { ...marker, ...copy.Meta };
  if (where === 'destination') copy.Meta.Destinations = [{ ...marker, ID: 'app' }];
  if (where === 'deep') copy.Extra = { a: [{ b: { ...marker, c: 1 } }] };
  return JSON.stringify(where === 'top' ? { ...marker, ...copy } : copy).replace(
    '"__INJECT_HERE__":0',
    fragment,
  );
}

export const nest = (n: number, kind: 'array' | 'object', inner = '1'): string =>
  kind === 'array'
    ? `${'['.repeat(n)}${inner}${']'.repeat(n)}`
    : `${'{"a":'.repeat(n)}${inner}${'}'.repeat(n)}`;

/** A Data Model API body: valid, or hostile in one of many ways. */
export function dmBody(
  rng: Rng,
  org: Org | undefined,
  query: boolean,
  hostile: boolean,
): { body: Buffer; strategy: string } {
  const message = validMessage(rng, org, query);
  const text = json(message);
  // prettier-ignore
  const strategy = hostile
    ? rng.pick(['valid', 'random', 'wrongType', 'wrongType', 'deep', 'huge', 'utf8', 'proto', 'proto', 'proto', 'syntax', 'syntax', 'empty', 'unknown'])
    : 'valid';
  switch (strategy) {
    case 'random':
      return { strategy, body: Buffer.from(json(randomJson(rng))) };
    case 'wrongType': {
      const meta = message.Meta as Record<string, unknown>;
      const field = rng.pick(META_FIELDS);
      const value = rng.pick(WRONG_VALUES);
      if (field === 'Meta') message.Meta = value;
      else if (field === 'Destinations[0]') meta.Destinations = [value, { ID: 'app' }];
      else if (field === 'Destinations[0].ID') meta.Destinations = [{ ID: value }];
      else meta[field] = value;
      return { strategy: `wrongType ${field}=${json(value).slice(0, 20)}`, body: Buffer.from(json(message)) };
    }
    case 'deep': {
      const levels = rng.pick([1_000, 10_000, 10_000, 20_000]);
      const deep = nest(levels, rng.pick(['array', 'object'] as const));
      const where = rng.pick(['top', 'meta', 'payload', 'metaItself']);
      const body = {
        top: deep,
        meta: text.replace('"Meta":{', `"Meta":{"Deep":${deep},`),
        payload: `${text.slice(0, -1)},"Deep":${deep}}`,
        metaItself: `{"Meta":${nest(levels, 'object', json(message.Meta))}}`,
      }[where]!;
      return { strategy: `deep ${levels} ${where}`, body: Buffer.from(body) };
    }
    case 'huge': {
      const size = rng.pick([1, 2, 4]) * MB;
      const shape = rng.pick(['string', 'array', 'keys']);
      const filler = {
        string: () => `"${'x'.repeat(size)}"`,
        array: () => `[${'1,'.repeat(size / 4)}1]`,
        keys: () => `{${Array.from({ length: size / 32 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
      }[shape]!();
      return {
        strategy: `huge ${size / MB} MB ${shape}`,
        body: Buffer.from(`${text.slice(0, -1)},"Huge":${filler}}`),
      };
    }
    case 'utf8': {
      const bytes = Buffer.from(text);
      const quotes = [...bytes.entries()].filter(([, b]) => b === 0x22).map(([i]) => i);
      const at = rng.chance(0.7) ? rng.pick(quotes) + 1 : rng.int(bytes.length);
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      return {
        strategy: 'invalid UTF-8',
        body: Buffer.concat([bytes.subarray(0, at), bad, bytes.subarray(at)]),
      };
    }
    case 'proto': {
      const where = rng.pick(['top', 'meta', 'destination', 'deep']);
      const fragment = rng.pick(POLLUTERS);
      return {
        strategy: `proto in ${where}: ${fragment}`,
        body: Buffer.from(inject(message, where, fragment)),
      };
    }
    case 'syntax': {
      const at = rng.int(text.length);
      // prettier-ignore
      const mutations: Record<string, () => string> = {
        truncate: () => text.slice(0, at),
        insert: () => text.slice(0, at) + rng.pick(['{', '}', '[', ']', '"', ',', ':', '\\', 'x', ' ']) + text.slice(at),
        delete: () => text.slice(0, at) + text.slice(at + 1),
        'duplicate Meta': () => `${text.slice(0, -1)},"Meta":${json(rng.pick(WRONG_VALUES))}}`,
        trailing: () => `${text} ${rng.pick(['x', '{}', '\u0000', 'null'])}`,
        bom: () => `\ufeff${text}`,
        literal: () => text.replace(/:("[^"]*"|\d+|true|false)/, `:${rng.pick(['NaN', 'Infinity', '-', '01', '1e999', 'undefined', '.5', '0x10'])}`),
        comment: () => text.replace('{', '{/* c */'),
        quotes: () => text.replaceAll('"', "'"),
        comma: () => text.replace(/}$/, ',}'),
        control: () => text.replace('"Meta"', '"Me\u0001ta"'),
        escape: () => text.replace('"Meta"', '"Me\\uZZZZta"'),
      };
      const mutation = rng.pick(Object.keys(mutations));
      return { strategy: `syntax: ${mutation}`, body: Buffer.from(mutations[mutation]!()) };
    }
    case 'empty':
      return {
        strategy: 'empty',
        body: Buffer.from(rng.pick(['', ' ', '\n', 'null', '[]', '0', '"x"', '{}', 'true'])),
      };
    case 'unknown': {
      const meta = message.Meta as Record<string, unknown>;
      if (rng.chance(0.5))
        meta.DataModel = rng.pick(['NotAModel', 'constructor', '__proto__', 'toString', '']);
      else meta.Destinations = [{ ID: rng.pick(['nope', 'private', 'app ', 'APP', '__proto__', '']) }];
      return {
        strategy: `unknown ${json(meta.DataModel)} ${json(meta.Destinations)}`,
        body: Buffer.from(json(message)),
      };
    }
    default:
      return { strategy: 'valid', body: Buffer.from(text) };
  }
}
