// Malformed HTTP on raw sockets: the inputs, the exchange, and reading the answers back.
import { connect } from 'node:net';
import { PLATFORM_KEY } from '../harness.ts';
import { credentials, type Input, MARK, type Org, port, type Rng } from './context.ts';
import { buildFetch } from './inputs.ts';
import type { Answer } from './rules.ts';
import { json } from './values.ts';

/**
 * Malformed or unusual HTTP, written byte for byte on a socket. The first raw inputs of a run
 * (by `position`) go through every malformed template once; the others pick at random.
 */
export function buildRaw(index: number, rng: Rng, position: number): Input {
  const base = buildFetch(index, rng);
  const host = 'Host: 127.0.0.1\r\n';
  const auth = base.headers.authorization ? `Authorization: ${base.headers.authorization}\r\n` : '';
  const type = base.headers['content-type'] ? `Content-Type: ${base.headers['content-type']}\r\n` : '';
  const body = base.body ?? Buffer.alloc(0);
  const head = `${base.method} ${base.path} HTTP/1.1\r\n${host}${auth}${type}Connection: close\r\n`;
  const full = Buffer.concat([Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n`), body]);
  const valid = json({
    Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
    Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
    P: `${MARK.acme}-RAW`,
  });
  const token = `Authorization: ${credentials.get('source')!.header!}\r\n`;
  const pk = `Authorization: Bearer ${PLATFORM_KEY}\r\n`;
  const post = (path: string, headers: string, content: string | Buffer): Buffer =>
    Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\n${host}${headers}\r\n`), Buffer.from(content)]);
  // prettier-ignore
  const malformed: [string, () => Buffer, number?][] = [
    ['unknown method', () => Buffer.from(`FOO ${base.path} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['lower-case method', () => Buffer.from(`get /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['TRACE', () => Buffer.from(`TRACE ${base.path} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['CONNECT', () => Buffer.from('CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n')],
    ['M-SEARCH', () => Buffer.from(`M-SEARCH * HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['HTTP/9.9', () => Buffer.from(`GET /healthz HTTP/9.9\r\n${host}\r\n`)],
    ['HTTP/0.9', () => Buffer.from('GET /healthz\r\n\r\n')],
    ['HTTP/2 preface', () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['space in URL', () => Buffer.from(`GET /platform/v1/logs/a b HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['raw bytes in URL', () => Buffer.concat([Buffer.from('GET /platform/v1/logs/'), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(` HTTP/1.1\r\n${host}\r\n`)])],
    ['NUL in header', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-A: a\u0000b\r\nConnection: close\r\n\r\n`)],
    ['obs-fold', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-A: a\r\n b\r\nConnection: close\r\n\r\n`)],
    ['bare LF', () => Buffer.from('GET /healthz HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n')],
    ['CR only', () => Buffer.from('GET /healthz HTTP/1.1\rHost: 127.0.0.1\r\r')],
    ['no colon', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}Broken header\r\nConnection: close\r\n\r\n`)],
    ['space before colon', () => Buffer.from('GET /healthz HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n')],
    ['empty header name', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}: x\r\nConnection: close\r\n\r\n`)],
    ['tab in value', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-A:\ta\tb\t\r\nConnection: close\r\n\r\n`)],
    ['non-ASCII header value', () => Buffer.concat([Buffer.from(`GET /platform/v1/logs HTTP/1.1\r\n${host}Authorization: Bearer `), Buffer.from([0xe9, 0xff]), Buffer.from('\r\nConnection: close\r\n\r\n')])],
    ['Content-Length and Transfer-Encoding', () => post('/endpoint', `${token}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n`, '0\r\n\r\n')],
    ['two Content-Lengths', () => post('/endpoint', `${token}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n`, '{}')],
    ['negative Content-Length', () => post('/endpoint', 'Content-Type: application/json\r\nContent-Length: -1\r\n', '{}')],
    ['Content-Length 1e3', () => post('/endpoint', 'Content-Type: application/json\r\nContent-Length: 1e3\r\n', '{}')],
    ['bad chunk size', () => post('/endpoint', `${token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n`, 'zz\r\n{}\r\n0\r\n\r\n')],
    ['chunk extension junk', () => post('/endpoint', `${token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n`, '2;\u0001\r\n{}\r\n0\r\n\r\n')],
    ['Transfer-Encoding twice', () => post('/endpoint', 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', '2\r\n{}\r\n0\r\n\r\n')],
    ['Transfer-Encoding gzip', () => post('/endpoint', 'Content-Type: application/json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n', '{}')],
    ['chunked, valid', () => post('/endpoint', `${token}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n`, `${valid.length.toString(16)}\r\n${valid}\r\n0\r\n\r\n`)],
    ['form body to /endpoint', () => post('/endpoint', `${token}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n`, 'Meta=1&')],
    ['Expect: foo', () => post('/endpoint', `${token}Content-Type: application/json\r\nExpect: foo\r\nContent-Length: ${valid.length}\r\nConnection: close\r\n`, valid)],
    ['Expect: 100-continue', () => post('/endpoint', `${token}Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${valid.length}\r\nConnection: close\r\n`, valid)],
    ['header over 16 KB', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`)],
    ['5000 headers', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}${'X-A: b\r\n'.repeat(5000)}\r\n`)],
    ['URL over 16 KB', () => Buffer.from(`GET /platform/v1/logs/${'a'.repeat(20_000)} HTTP/1.1\r\n${host}\r\n`)],
    ['URL of 12 KB', () => Buffer.from(`GET /platform/v1/logs/${'a'.repeat(12_000)} HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['absolute-form', () => Buffer.from(`GET http://evil.example/platform/v1/logs HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['absolute-form, bad parameter', () => Buffer.from(`GET http://evil.example/platform/v1/logs?status=x HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['absolute-form, unknown FHIR type', () => Buffer.from(`GET HTTPS://x/fhir/R4/acme/production/Nope/1 HTTP/1.1\r\n${host}${token}Connection: close\r\n\r\n`)],
    ['absolute-form, no route', () => Buffer.from(`POST http://x/platform/v1/logs/x HTTP/1.1\r\n${host}${pk}Content-Length: 0\r\nConnection: close\r\n\r\n`)],
    ['asterisk-form', () => Buffer.from(`OPTIONS * HTTP/1.1\r\n${host}Connection: close\r\n\r\n`)],
    ['no Host', () => Buffer.from(`GET /platform/v1/logs HTTP/1.1\r\n${pk}Connection: close\r\n\r\n`)],
    ['two Hosts', () => Buffer.from('GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n')],
    ['HTTP/1.0 without Host', () => Buffer.from('GET /healthz HTTP/1.0\r\n\r\n')],
    ['Upgrade', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`)],
    ['dot segments', () => Buffer.from(`GET /platform/v1/logs/../../healthz HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['dot segments into another FHIR org', () => Buffer.from(`GET /fhir/R4/acme/production/../../other/production/Patient/p1 HTTP/1.1\r\n${host}${token}Connection: close\r\n\r\n`)],
    ['backslashes', () => Buffer.from(`GET /platform\\v1\\logs HTTP/1.1\r\n${host}${pk}Connection: close\r\n\r\n`)],
    ['pipelined', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}\r\nGET /readyz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`), 2],
    ['pipelined, then garbage', () => Buffer.from(`GET /healthz HTTP/1.1\r\n${host}\r\nGET /readyz HTTP/1.1\r\n${host}\r\n\u0000\u0001garbage\r\n\r\n`), 3],
  ];
  const sweep = malformed[position];
  const strategy = sweep
    ? 'malformed'
    : rng.pick([
        'flip',
        'flip',
        'flip',
        'truncate-destroy',
        'truncate-end',
        'headers-cut',
        'malformed',
        'malformed',
        'malformed',
        'malformed',
      ]);
  const raw = (bytes: Buffer, mode: 'send' | 'destroy' | 'end' = 'send', responses = 1): Input['raw'] => ({
    bytes,
    mode,
    responses,
  });
  let what = `${strategy} of ${base.strategy}`;
  let bytes: Input['raw'];
  if (strategy === 'flip') {
    const flipped = Buffer.from(full);
    for (let n = 1 + rng.int(3); n > 0; n--) flipped[rng.int(flipped.length)] = rng.int(256);
    bytes = raw(flipped);
  } else if (strategy === 'truncate-destroy' || strategy === 'truncate-end') {
    // The body announced is longer than the body sent; then the connection is dropped or half-closed.
    const announced = `${head}Content-Length: ${body.length + 1 + rng.int(1000)}\r\n\r\n`;
    const cut = Buffer.concat([Buffer.from(announced), body.subarray(0, rng.int(body.length + 1))]);
    bytes = raw(cut, strategy === 'truncate-destroy' ? 'destroy' : 'end');
  } else if (strategy === 'headers-cut') {
    bytes = raw(full.subarray(0, rng.int(full.indexOf('\r\n\r\n') + 2)), 'end');
  } else {
    const [name, make, responses] = sweep ?? rng.pick(malformed);
    what = `malformed: ${name}`;
    bytes = raw(make(), 'send', responses);
  }
  return { ...base, kind: 'raw', strategy: what, raw: bytes };
}

interface RawResponse extends Answer {
  headText: string;
}

/** The responses in what a socket received; `rest` is what could not be read as one. */
export function parseResponses(data: Buffer, head = false): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const headText = data.subarray(at, end).toString('latin1');
    const [statusLine = '', ...lines] = headText.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(statusLine);
    if (!status) break;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let next = end + 4;
    let body: Buffer = Buffer.alloc(0);
    if (Number(status[1]) < 200 || (head && responses.length === 0)) {
      // An interim answer has no body; the answer to HEAD announces a length and sends none.
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (next + length > data.length) break;
      body = data.subarray(next, next + length);
      next += length;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', next);
        if (lineEnd < 0) return { responses, rest: data.subarray(at) };
        const size = parseInt(data.subarray(next, lineEnd).toString('latin1'), 16);
        next = lineEnd + 2 + size + 2;
        if (size === 0) break;
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
      }
      body = Buffer.concat(chunks);
    }
    at = next;
    if (Number(status[1]) >= 200) responses.push({ status: Number(status[1]), headers, body, headText });
  }
  return { responses, rest: data.subarray(at) };
}

interface Exchange {
  data: Buffer;
  closedBy: 'server' | 'client';
  ms: number;
}

/**
 * Writes `pieces` on a new connection (`gapMs` apart) and collects what comes back until the
 * server closes. `send`: once the expected answers are in, or after a second of silence, this side
 * half-closes (so the server sees the end of what was sent), and hangs up 2 s later. `end`:
 * half-closes at once. `destroy`: hangs up 50 ms after the last piece.
 */
export function exchange(
  pieces: Buffer[],
  options: { mode: 'send' | 'destroy' | 'end'; responses: number; gapMs?: number; limitMs?: number },
): Promise<Exchange> {
  const began = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port(), '127.0.0.1');
    const received: Buffer[] = [];
    let closedBy: 'server' | 'client' = 'server';
    let timer: NodeJS.Timeout | undefined;
    const hangUp = (): void => {
      closedBy = 'client';
      socket.destroy();
    };
    const limit = setTimeout(hangUp, options.limitMs ?? 10_000);
    const waitQuietly = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        socket.end();
        timer = setTimeout(hangUp, 2_000);
      }, 1_000);
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (options.gapMs) return;
      if (parseResponses(Buffer.concat(received)).responses.length >= options.responses) socket.end();
      else waitQuietly();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(limit);
      resolve({ data: Buffer.concat(received), closedBy, ms: performance.now() - began });
    });
    const queue = [...pieces];
    const writeNext = (): void => {
      if (socket.destroyed) return;
      const piece = queue.shift();
      if (piece === undefined) {
        if (options.mode === 'destroy') timer = setTimeout(hangUp, 50);
        else if (options.mode === 'end') socket.end();
        else if (!options.gapMs) waitQuietly();
        return;
      }
      socket.write(piece);
      if (options.gapMs) timer = setTimeout(writeNext, options.gapMs);
      else writeNext();
    };
    socket.once('connect', writeNext);
  });
}

/** The method and path a raw request's first line names, when it can be read. */
export function requestLine(bytes: Buffer): { method: string; path: string } | undefined {
  const line = /^(\S+) (\S+)/.exec(bytes.subarray(0, 30_000).toString('latin1'));
  if (!line) return undefined;
  // An absolute-form target (`GET http://host/path`) is routed, and answered, by its path.
  const origin = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i.exec(line[2]!);
  return { method: line[1]!, path: origin ? line[2]!.slice(origin[0].length) || '/' : line[2]! };
}

/** Whose valid credential a raw request carries (a flipped byte may have spoiled it: then 401). */
export function orgOfRaw(text: string): Org | undefined {
  for (const [name, org] of [
    ['otherSource', 'other'],
    ['source', 'acme'],
    ['otherPlatform', 'other'],
    ['platform', 'acme'],
  ] as const)
    if (text.includes(`Authorization: ${credentials.get(name)!.header!}\r\n`)) return org;
  return undefined;
}
