import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, test } from 'node:test';
import { attemptsRecorded, patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Receivers that break the connection instead of answering (the bounded version of the chaos
 * suite's receiver faults, chaos/receiver-faults.ts; a silent or stalling receiver is in
 * failure-policy.test.ts). Each fault is a failed attempt with its error recorded, the queue
 * waits for the retry, and once the receiver answers, every log arrives once, in order.
 */

type Fault = (req: IncomingMessage, res: ServerResponse) => void;

interface FaultyServer {
  url: string;
  /** Log IDs answered 200, in order. */
  delivered: string[];
  close(): Promise<void>;
}

let h: Harness | undefined;
let server: FaultyServer | undefined;

afterEach(async () => {
  await h?.close();
  await server?.close();
  h = server = undefined;
});

/** Answers its first requests with `faults`, one each, and every later one with 200. */
async function faultyServer(faults: Fault[]): Promise<FaultyServer> {
  const delivered: string[] = [];
  let requests = 0;
  const http = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const fault = faults[requests++];
      if (fault) return fault(req, res);
      delivered.push(String(req.headers['x-switchboard-log-id']));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  // The faults end connections this side may still be writing to.
  http.on('connection', (socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/x`,
    delivered,
    close() {
      http.closeAllConnections();
      return new Promise((resolve) => http.close(() => resolve()));
    },
  };
}

/**
 * Sends three messages to a production destination whose receiver answers with `faults` (two),
 * then checks both were failed attempts of the first log whose error matches `error`, and that
 * after the 10 s wait the three logs are delivered once each, in order.
 */
async function expectRecovery(faults: [Fault, Fault], error: RegExp): Promise<void> {
  // Locals, so that the closures below see them set; afterEach closes them through h and server.
  const receiver = (server = await faultyServer(faults));
  const harness = (h = await startHarness({ destinations: [{ id: 'app', url: receiver.url }] }));
  const ids: string[] = [];
  for (let n = 1; n <= 3; n++) {
    const res = await harness.send(patientAdmin(n));
    assert.equal(res.status, 200);
    ids.push(res.body.Meta.Logs[0].ID as string);
  }
  // Attempt 1 fails, attempt 2 follows at once and fails; then the queue waits 10 s.
  await attemptsRecorded(harness, 2);
  await harness.settled();
  assert.deepEqual(receiver.delivered, [], 'nothing delivered while the head fails');
  const queue = await harness.platform('GET', '/platform/v1/destinations/app/queue');
  assert.equal(queue.body.state, 'blocked');
  const head = await harness.platform('GET', `/platform/v1/logs/${ids[0]}`);
  const attempts = head.body.attempts as { statusCode: number | null; outcome: string; error: string }[];
  assert.deepEqual(
    attempts.map((a) => [a.statusCode, a.outcome]),
    [
      [null, 'failed'],
      [null, 'failed'],
    ],
  );
  for (const attempt of attempts) assert.match(attempt.error, error);

  harness.clock.advance(10_000);
  await waitFor(() => receiver.delivered.length === 3, 10_000, 'the three logs after the wait');
  await harness.settled();
  assert.deepEqual(receiver.delivered, ids, 'each log once, in acceptance order');
  assert.equal((await harness.platform('GET', `/platform/v1/logs/${ids[0]}`)).body.status, 'succeeded');
}

test('a receiver that resets the connection, before answering or after the headers, is retried', async () => {
  await expectRecovery(
    [
      (req) => req.socket.resetAndDestroy(),
      // A 200's status line, headers and the start of its body, then a reset: not a 2xx received.
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"ok":', () => setTimeout(() => req.socket.resetAndDestroy(), 50));
      },
    ],
    /ECONNRESET/,
  );
});

test('a receiver that answers bytes that are not HTTP, or a 200 framed two ways, is retried', async () => {
  await expectRecovery(
    [
      (req) =>
        req.socket.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28, 0x0d, 0x0a, 0x0d, 0x0a])),
      (req) => req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}'),
    ],
    /does not match the HTTP\/1\.1 protocol|does not match content-length/,
  );
});
