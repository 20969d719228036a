// Sending the inputs and checking each answer against the rules.
import {
  breakRule,
  credentials,
  FAST_INPUTS,
  harness,
  HEADERS_TIMEOUT_MS,
  type Input,
  MARK,
  REQUEST_TIMEOUT_MS,
  run,
  SLOW_CLIENTS,
  tally,
  unanswered,
} from './context.ts';
import { exchange, orgOfRaw, parseResponses, requestLine } from './raw.ts';
import { account, type Answer, check, familyOf, isObject, type Json, type Sent } from './rules.ts';
import { json } from './values.ts';

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether a JSON body has a `__proto__` key, or a `constructor` object with a `prototype` key. */
function forbiddenKeys(body: Buffer | undefined): boolean {
  let value: unknown;
  try {
    value = JSON.parse(body?.toString('utf8') ?? '');
  } catch {
    return false;
  }
  // Iterative, and no spread: bodies nest 20,000 levels deep and hold arrays of a million items.
  const stack = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Object.hasOwn(node, '__proto__')) return true;
    const ctor = (node as Json).constructor;
    if (Object.hasOwn(node, 'constructor') && isObject(ctor) && Object.hasOwn(ctor, 'prototype')) return true;
    for (const child of Object.values(node)) stack.push(child);
  }
  return false;
}

export async function sendFetch(input: Input): Promise<void> {
  const url = new URL(harness().url + input.path);
  const sent: Sent = {
    org: input.org,
    family: familyOf(url.pathname),
    path: url.pathname + url.search,
    method: input.method,
  };
  let res: Response;
  try {
    res = await fetch(url, {
      method: input.method,
      headers: input.headers,
      body: input.body,
      signal: AbortSignal.timeout(20_000),
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    run.hangs++;
    return breakRule(input, `no answer: ${(error as Error).message} ${cause ? String(cause) : ''}`);
  }
  const answer: Answer = {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    body: Buffer.from(await res.arrayBuffer()),
  };
  tally(`${sent.family} ${answer.status}`);
  const text = answer.body.toString('utf8');
  const requestText = `${input.method} ${sent.path} ${decoded(sent.path)} ${json(input.headers)} ${input.body?.toString('utf8') ?? ''}`;
  const problems = check(sent, answer, requestText);
  // docs/errors.md: a JSON body with `__proto__` or `constructor.prototype` keys is refused.
  if (
    answer.status === 200 &&
    /^application\/json(;|$)/i.test(input.headers['content-type'] ?? '') &&
    forbiddenKeys(input.body)
  )
    problems.push('a JSON body with __proto__ or constructor.prototype keys was accepted');
  if (problems.length) breakRule(input, problems.join('; '), `${answer.status} ${text}`);
  account(sent, answer.status, answer.headers['idempotent-replayed'], text);
}

export async function sendRaw(input: Input): Promise<void> {
  const raw = input.raw!;
  const { data } = await exchange([raw.bytes], { mode: raw.mode, responses: raw.responses });
  checkRaw(input, raw.bytes, data);
}

function checkRaw(input: Input, bytes: Buffer, data: Buffer): void {
  const line = requestLine(bytes);
  const { responses, rest } = parseResponses(data, line?.method === 'HEAD');
  if (rest.length > 0) breakRule(input, 'an answer that is not HTTP', rest.toString('latin1'));
  const requestText = bytes.toString('latin1');
  const path = line?.path ?? '/';
  const org = orgOfRaw(requestText);
  const first = responses[0];
  const refused = first === undefined || (first.body.length === 0 && !first.headers['content-type']);
  // A request whose answer never arrived (the raw client stopped reading first, on a busy
  // machine) may still have been stored: only a 200 promises, and nothing forbids the rest.
  if (refused && org && (path.startsWith('/fhir/') || line?.method === 'POST')) unanswered[org]++;
  for (const [i, answer] of responses.entries()) {
    tally(`raw ${answer.status}`);
    // Of pipelined requests only the first line is known; the others are health probes.
    const sent: Sent =
      i === 0
        ? { org, family: familyOf(path), path, method: line?.method ?? 'GET' }
        : { org, family: 'platform', path: '/healthz', method: 'GET' };
    const problems = check(sent, answer, `${requestText} ${decoded(path)}`);
    if (problems.length)
      breakRule(input, problems.join('; '), `${answer.headText}\r\n\r\n${answer.body.toString('utf8')}`);
    account(sent, answer.status, answer.headers['idempotent-replayed'], answer.body.toString('utf8'));
  }
}

/** Slow clients: headers byte by byte, bodies trickled, a silent connection, one slow but timely upload. */
export async function slowClients(): Promise<string[]> {
  const token = `Authorization: ${credentials.get('source')!.header!}\r\n`;
  const valid = json({
    Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
    P: `${MARK.acme}-SLOW`,
  });
  const split = (text: string, size: number): Buffer[] => {
    const all = Buffer.from(text);
    return Array.from({ length: Math.ceil(all.length / size) }, (_, i) =>
      all.subarray(i * size, (i + 1) * size),
    );
  };
  const request = (path: string, length: number): string =>
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${token}Content-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;
  // Node checks the timeouts every second: a cut comes between the timeout and a second later.
  const headersCut = HEADERS_TIMEOUT_MS + 1_000 + 2_000;
  const requestCut = REQUEST_TIMEOUT_MS + 1_000 + 2_000;
  const cases: { name: string; pieces: Buffer[]; gapMs: number; within: number; served?: boolean }[] = [
    ...['/endpoint', '/platform/v1/logs', '/v2/auth/token', '/fhir/R4/acme/production/Patient/_search'].map(
      (path) => ({
        name: `headers byte by byte to ${path}`,
        pieces: split(`${request(path, 2)}{}`, 1),
        gapMs: 30,
        within: headersCut,
      }),
    ),
    ...['/endpoint', '/query', '/auth/authenticate', '/platform/v1/destinations/app/queue/pause'].map(
      (path) => ({
        name: `body trickled to ${path}`,
        pieces: [Buffer.from(request(path, valid.length)), ...split(valid, 1)],
        gapMs: 60,
        within: requestCut,
      }),
    ),
    { name: 'a connection that never sends a byte', pieces: [], gapMs: 30, within: headersCut },
    {
      name: 'a slow but timely upload',
      pieces: [...split(request('/endpoint', valid.length), 40), ...split(valid, 25)],
      gapMs: 30,
      within: REQUEST_TIMEOUT_MS,
      served: true,
    },
  ];
  if (cases.length !== SLOW_CLIENTS)
    throw new Error(`${cases.length} slow clients; SLOW_CLIENTS says ${SLOW_CLIENTS}`);
  return Promise.all(
    cases.map(async (c, i) => {
      const bytes = Buffer.concat(c.pieces);
      const input: Input = {
        index: FAST_INPUTS + i,
        kind: 'slow',
        route: 'slow client',
        strategy: c.name,
        method: 'POST',
        path: '',
        headers: {},
        raw: { bytes, mode: 'send', responses: 1 },
      };
      const { data, closedBy, ms } = await exchange(c.pieces, {
        mode: 'send',
        responses: 1,
        gapMs: c.gapMs,
        limitMs: 15_000,
      });
      const { responses } = parseResponses(data);
      const outcome = `${c.name}: ${responses.map((r) => r.status).join(',') || 'no answer'}, closed by the ${closedBy} after ${(ms / 1000).toFixed(1)} s`;
      if (c.served) {
        if (responses[0]?.status !== 200)
          breakRule(input, `a slow but timely client was not served: ${outcome}`);
      } else {
        if (closedBy !== 'server' || ms > c.within) {
          run.hangs++;
          breakRule(input, `not cut off within ${c.within} ms: ${outcome}`);
        }
        for (const answer of responses)
          if (answer.status !== 408)
            breakRule(input, `answered ${answer.status} to a slow client`, answer.headText);
      }
      checkRaw(input, bytes, data);
      return outcome;
    }),
  );
}
