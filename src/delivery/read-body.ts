import type { Readable } from 'node:stream';

/**
 * Reads an outbound call's answer body as UTF-8, up to `limit` bytes. Past it the stream is
 * destroyed and the answer is either cut at what was read (`over: 'truncate'`) or refused
 * (`over: 'refuse'`, resolving to undefined), so an endless answer is never buffered whole.
 *
 * Events rather than `for await`: the async iterator costs a promise and several objects per
 * chunk, on the path every delivery and every query takes.
 */
export function readBody(
  body: Readable,
  limit: number,
  over: 'truncate' | 'refuse',
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const text = (): string => Buffer.concat(chunks).toString('utf8');
    body.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (over === 'truncate' || size <= limit) chunks.push(chunk);
      if (size < limit || (size === limit && over === 'refuse')) return;
      settled = true;
      // undici's body stream answers destroy() with an 'error' (request aborted): the promise
      // is settled by then, so the listener below only keeps that error from going unhandled.
      body.destroy();
      resolve(over === 'truncate' ? text() : undefined);
    });
    body.on('end', () => {
      settled = true;
      resolve(text());
    });
    body.on('error', (error) => {
      settled = true;
      reject(error);
    });
  });
}
