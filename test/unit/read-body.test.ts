import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { readBody } from '../../src/delivery/read-body.ts';

/** A destination whose answer never ends, and one that answers `size` bytes in 1 KB chunks. */
let server: Server;
let base: string;
let endlessClosed: Promise<void>;
before(async () => {
  let closed!: () => void;
  endlessClosed = new Promise((resolve) => (closed = resolve));
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/endless') {
      res.on('close', closed);
      const chunk = 'x'.repeat(1024);
      const write = (): void => {
        while (res.write(chunk));
        res.once('drain', write);
      };
      write();
      return;
    }
    const size = Number(req.url?.slice(1));
    for (let sent = 0; sent < size; sent += 1024) res.write('y'.repeat(Math.min(1024, size - sent)));
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

test('an answer within the limit is read whole, either way', async () => {
  for (const over of ['truncate', 'refuse'] as const) {
    const response = await request(`${base}/5000`);
    assert.equal(await readBody(response.body, 5000, over), 'y'.repeat(5000));
  }
});

test('refuse: an endless answer is cut off past the limit and refused, without an unhandled error', async () => {
  const errors: unknown[] = [];
  const onError = (error: unknown): number => errors.push(error);
  process.on('uncaughtException', onError);
  try {
    const response = await request(`${base}/endless`);
    assert.equal(await readBody(response.body, 64 * 1024, 'refuse'), undefined);
    await endlessClosed; // the connection was given up, not read to the end
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(errors, []);
  } finally {
    process.off('uncaughtException', onError);
  }
});

test('truncate: what was read up to the limit is kept (at least the limit, at most one chunk more)', async () => {
  const response = await request(`${base}/200000`);
  const text = (await readBody(response.body, 10_000, 'truncate'))!;
  assert.ok(text.length >= 10_000 && text.length < 10_000 + 65_536, `read ${text.length}`);
  assert.match(text, /^y+$/);
});

test('refuse: one byte over the limit is refused; exactly the limit is not', async () => {
  assert.equal(await readBody(Readable.from([Buffer.from('abc'), Buffer.from('d')]), 4, 'refuse'), 'abcd');
  assert.equal(
    await readBody(Readable.from([Buffer.from('abc'), Buffer.from('de')]), 4, 'refuse'),
    undefined,
  );
});

test('a stream that fails mid-answer rejects with its error', async () => {
  const failing = new Readable({ read() {} });
  const reading = readBody(failing, 1000, 'truncate');
  failing.push(Buffer.from('partial'));
  failing.destroy(new Error('connection reset'));
  await assert.rejects(reading, /connection reset/);
});
