// The fuzz's settings and the state its modules share (test/integration/fuzz.test.ts).
import type { Harness } from '../harness.ts';
import { json } from './values.ts';

export const SEED = Number(process.env.FUZZ_SEED ?? 20_260_423);
export const INPUTS = Number(process.env.FUZZ_INPUTS ?? 2_000);
/** The slow clients' cases (slowClients()); every other input is sent as fast as it can be. */
export const SLOW_CLIENTS = 10;
export const FAST_INPUTS = INPUTS - SLOW_CLIENTS;
if (!Number.isInteger(INPUTS) || FAST_INPUTS < 8)
  throw new Error(`FUZZ_INPUTS=${process.env.FUZZ_INPUTS}: want an integer over 17`);
/** The store is checked after every ~200 inputs, so that a break is found near its cause. */
export const BATCHES = Math.max(1, Math.round(FAST_INPUTS / 199));
export const CONCURRENCY = 8;
export const HEADERS_TIMEOUT_MS = 1_000;
export const REQUEST_TIMEOUT_MS = 3_000;
export const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// A seeded generator (mulberry32).

export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

export const rngFor = (index: number): Rng =>
  new Rng(Math.imul(SEED ^ Math.imul(index + 1, 0x9e3779b1), 0x85ebca6b));

// ---------------------------------------------------------------------------------------------
// The server under test and what it holds.

export type Org = 'acme' | 'other';
export type Family = 'oauth' | 'dm' | 'fhir' | 'platform';

/** The run's mutable parts: the server under test (set by the test's `before`), and counts. */
export const run = {
  harness: undefined as Harness | undefined,
  /** A refresh token of the legacy flow, for the refresh route's valid requests. */
  refreshToken: '',
  /** Inputs never answered (a fetch that timed out, a slow client the server did not cut off). */
  hangs: 0,
};
export const harness = (): Harness => {
  if (!run.harness) throw new Error('the fuzz server is not started');
  return run.harness;
};
export const port = (): number => Number(new URL(harness().url).port);

/** Credentials by name, and the organization whose data a valid one reaches. */
export const credentials = new Map<string, { header?: string; org?: Org }>();
/** Log IDs known to exist, per organization: seeded, then every one a 200 named. */
export const knownLogs: Record<Org, Set<string>> = { acme: new Set(), other: new Set() };
/** The message of every log an answer named, so a retry's copy is counted with its message. */
export const messageOfLog = new Map<string, number>();
/** The seeded ones: what paths name, so that an input does not depend on earlier answers. */
export const seededLogs: Record<Org, string[]> = { acme: [], other: [] };

/** What the store must hold: what the 200s promised. */
export const expected: Record<Org, { messages: number; logs: number; tracked: Map<number, Set<string>> }> = {
  acme: { messages: 0, logs: 0, tracked: new Map() },
  other: { messages: 0, logs: 0, tracked: new Map() },
};
/**
 * A GET (a FHIR read or search) is handled as soon as its headers are in. When it announced a
 * body that then never comes (a truncated raw request), its query may have run and been logged
 * while the connection gets the 400 or 408 for the broken framing, or nothing: the store may
 * hold that many more query logs, and no more.
 */
export const unanswered: Record<Org, number> = { acme: 0, other: 0 };

/** Payload marks and names of each organization: never in an answer to the other one. */
export const MARK: Record<Org, string> = { acme: 'ACME-FUZZ', other: 'OTHR-FUZZ' };
export const NAMES: Record<Org, RegExp> = {
  acme: /Acme (Health|EHR)|Destination app/,
  other: /Other (Health|EHR)|Other destination/,
};

// ---------------------------------------------------------------------------------------------
// Inputs.

export interface Input {
  index: number;
  kind: 'fetch' | 'raw' | 'slow';
  route: string;
  strategy: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The organization a valid credential of the input reaches. */
  org?: Org;
  /** Raw inputs: the bytes, how the connection ends, and how many answers to wait for. */
  raw?: { bytes: Buffer; mode: 'send' | 'destroy' | 'end'; responses: number };
}

interface Break {
  input: string;
  rule: string;
  answer: string;
}
export const breaks: Break[] = [];
/** What the store held at the last check: messages (every organization's) and logs. */
export const stored = { messages: 0, logs: 0 };
export const statusCounts = new Map<string, number>();
export const tally = (key: string): void => void statusCounts.set(key, (statusCounts.get(key) ?? 0) + 1);

function describe(input: Input): string {
  const body = input.raw?.bytes ?? input.body;
  const preview = body ? json(body.subarray(0, 300).toString('latin1')) : '(none)';
  const headers = Object.fromEntries(
    Object.entries(input.headers).map(([k, v]) => [
      k,
      v.length > 80 ? `${v.slice(0, 80)}...(${v.length})` : v,
    ]),
  );
  const what = input.raw
    ? `raw (${input.raw.mode}), ${body?.length} bytes: ${preview}`
    : `${input.method} ${input.path.slice(0, 200)} headers=${json(headers)} body (${body?.length ?? 0} bytes)=${preview}`;
  return `#${input.index} of FUZZ_SEED=${SEED}, ${input.kind} [${input.route}; ${input.strategy}] ${what}`;
}

export function breakRule(input: Input | string, rule: string, answer = ''): void {
  if (breaks.length < 200)
    breaks.push({
      input: typeof input === 'string' ? input : describe(input),
      rule,
      answer: answer.slice(0, 500),
    });
}
