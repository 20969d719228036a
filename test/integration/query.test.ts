import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { streamAnswer, within, type Streamed } from '../helpers/query-stream.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A destination for queries: its behaviour is chosen by the patient identifier queried. */
class QueryDestination {
  readonly seen: Seen[] = [];
  /** Queries `held` until the test calls `release()`; after it they are answered at once. */
  readonly held: (() => void)[] = [];
  #holding = true;
  /** What the destination saw of each large answer it streamed, in order. */
  readonly streams: Promise<Streamed>[] = [];
  aborted = 0;
  #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.seen.push({ url: req.url ?? '', headers: req.headers, body });
        res.on('close', () => {
          if (!res.writableFinished) this.aborted++;
        });
        const id = (JSON.parse(body) as { Patient?: { Identifiers?: { ID: string }[] } }).Patient
          ?.Identifiers?.[0]?.ID;
        const json = (status: number, value: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        };
        if (id === 'empty')
          return json(200, { Meta: { DataModel: 'PatientSearch', EventType: 'Query' }, Patients: [] });
        if (id === 'broken')
          return json(500, { Meta: { Errors: [{ Text: 'Patient index is down for maintenance' }] } });
        if (id === 'plain') return res.writeHead(503).end('upstream unavailable');
        if (id === 'hang') return; // never answers
        if (id === 'stall-body')
          // The status and the start of the body at once, then nothing: the timeout covers the body.
          return void res.writeHead(200, { 'content-type': 'application/json' }).write('{"Meta": {');
        if (id === 'slow') return void setTimeout(() => json(200, { Meta: {}, Patients: [] }), 1_000);
        if (id === 'held') {
          const answer = (): void => json(200, { Meta: {}, Patients: ['released'] });
          return void (this.#holding ? this.held.push(answer) : answer());
        }
        if (id === 'stream-50mb')
          return void this.streams.push(streamAnswer(res, { totalBytes: 50 * 1024 * 1024 }));
        if (id === 'declared-50mb')
          // Declares 50 MB, sends 64 KiB, then waits: only refusing at the header answers in time.
          return void this.streams.push(
            streamAnswer(res, {
              totalBytes: 50 * 1024 * 1024,
              declareLength: true,
              stopAfterBytes: 64 * 1024,
            }),
          );
        return json(200, {
          Meta: { DataModel: 'PatientSearch', EventType: 'Query' },
          Patients: [{ Identifiers: [{ ID: id, IDType: 'MR' }], Demographics: { FirstName: 'Timothy' } }],
        });
      });
    });
  }

  /** Answers every held query. */
  release(): void {
    this.#holding = false;
    for (const answer of this.held.splice(0)) answer();
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/query`;
    return this;
  }

  close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let h: Harness;
let destination: QueryDestination;
let asyncReceiver: Receiver;
let closedPort: number;

before(async () => {
  destination = await new QueryDestination().start();
  asyncReceiver = await Receiver.start();
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  h = await startHarness({
    destinations: [
      { id: 'mpi', url: destination.url, queryTimeoutMs: 500 },
      { id: 'mpi2', url: destination.url },
      { id: 'down', url: `http://127.0.0.1:${closedPort}/query` },
      // RFC 6761: `.invalid` never resolves.
      { id: 'nowhere', url: 'http://nowhere.invalid/query' },
      { id: 'app', url: asyncReceiver.url },
    ],
    subscribed: ['app'],
    server: { payloadLimitBytes: 1024 * 1024 },
    extraSubscriptions: [
      { dataModel: 'PatientSearch', destination: 'mpi' },
      { dataModel: 'ClinicalSummary', destination: 'mpi' },
      { dataModel: 'ClinicalSummary', destination: 'mpi2' },
    ],
  });
});

after(async () => {
  await h.close();
  await destination.close();
  await asyncReceiver.close();
});

async function query(
  id: string,
  meta: Record<string, unknown> = {},
  harness: Harness = h,
  fields: Record<string, unknown> = {},
) {
  const token = await harness.token();
  const body = {
    Meta: { DataModel: 'PatientSearch', EventType: 'Query', ...meta },
    Patient: { Identifiers: [{ ID: id, IDType: 'MR' }] },
    ...fields,
  };
  const res = await fetch(`${harness.url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), sent: JSON.stringify(body) };
}

async function logOf(id: string, harness: Harness = h) {
  return waitFor(
    async () => {
      const res = await harness.platform('GET', `/platform/v1/logs/${id}`);
      return res.status === 200 ? res.body : undefined;
    },
    5_000,
    `log ${id}`,
  );
}

test('success: the destination answer comes back with Meta.Logs and no errors, and the query is logged', async () => {
  const before = destination.seen.length;
  const res = await query('12345');
  assert.equal(res.status, 200);
  assert.equal(res.body.Patients[0].Demographics.FirstName, 'Timothy');
  assert.deepEqual(res.body.Meta.Errors, []);
  assert.equal(res.body.Meta.Logs.length, 1);
  const { ID, AttemptID } = res.body.Meta.Logs[0];
  const seen = destination.seen[before]!;
  assert.equal(seen.body, res.sent, 'the query body is forwarded as sent');
  assert.equal(seen.headers['x-switchboard-log-id'], ID);
  assert.equal(seen.headers['x-switchboard-attempt-id'], AttemptID);
  assert.equal(seen.headers['verification-token'], 'token-mpi');

  const log = await logOf(ID);
  assert.equal(log.type, 'request');
  assert.equal(log.status, 'succeeded');
  assert.equal(log.dataModel, 'PatientSearch');
  assert.equal(log.attempts.length, 1);
  assert.deepEqual(log.payload, JSON.parse(res.sent), 'the stored request is the query as sent');
  assert.equal(log.attempts[0].statusCode, 200);
  assert.equal(log.attempts[0].requestUrl, destination.url);
  assert.ok(
    Number.isInteger(log.attempts[0].durationMs) && log.attempts[0].durationMs >= 0,
    `durationMs ${log.attempts[0].durationMs}`,
  );
  assert.match(log.attempts[0].responseExcerpt, /Timothy/);
  const search = await h.platform('GET', '/platform/v1/logs?dataModel=PatientSearch&status=succeeded');
  assert.ok(
    search.body.logs.some((l: { id: string }) => l.id === ID),
    'searchable like any other log',
  );
});

test('an empty result is a success', async () => {
  const res = await query('empty');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.Patients, []);
  assert.deepEqual(res.body.Meta.Errors, []);
});

test('partial: the destination fails with its own Meta.Errors -> 200 with DestinationStatusCode and Details', async () => {
  const before = destination.seen.length;
  const res = await query('broken');
  assert.equal(res.status, 200);
  const [error] = res.body.Meta.Errors;
  assert.equal(error.Type, 'query');
  assert.equal(error.Module, 'Send');
  assert.equal(error.DestinationStatusCode, 500);
  assert.match(error.Details, /Patient index is down for maintenance/);
  assert.equal(typeof error.ID, 'number');
  assert.equal(res.body.Meta.Logs.length, 1);
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.equal(log.status, 'failed');
  // Never retried by Switchboard, however long we wait.
  h.clock.advance(600_000);
  await h.settled();
  assert.equal(destination.seen.length, before + 1);
});

test('partial: a destination error without Meta.Errors passes its text back', async () => {
  const res = await query('plain');
  assert.equal(res.status, 200);
  assert.equal(res.body.Meta.Errors[0].DestinationStatusCode, 503);
  assert.equal(res.body.Meta.Errors[0].Details, 'upstream unavailable');
});

test('destination down: 502 with the documented error body', async () => {
  const res = await query('12345', { Destinations: [{ ID: 'down' }] });
  assert.equal(res.status, 502);
  const [error] = res.body.Meta.Errors;
  assert.equal(error.Type, 'query');
  assert.equal(error.Module, 'Send');
  assert.match(error.Text, /could not be reached/);
  assert.doesNotMatch(JSON.stringify(res.body), /\/work|node_modules|at .*\.ts/);
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.equal(log.status, 'failed');
  assert.match(log.attempts[0].error, /ECONNREFUSED/);
});

test('DNS failure: 502 with the documented error body', async () => {
  const res = await query('12345', { Destinations: [{ ID: 'nowhere' }] });
  assert.equal(res.status, 502);
  const [error] = res.body.Meta.Errors;
  assert.equal(error.Type, 'query');
  assert.equal(error.Module, 'Send');
  assert.match(error.Text, /could not be reached/);
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.equal(log.status, 'failed');
  assert.equal(log.attempts[0].statusCode, null);
  assert.match(log.attempts[0].error, /ENOTFOUND|EAI_AGAIN/);
});

test('destination slower than its timeout: 504 in time, the destination call is aborted, the log says so', async () => {
  const started = Date.now();
  const res = await query('hang');
  const took = Date.now() - started;
  assert.equal(res.status, 504);
  assert.ok(took >= 450 && took < 3_000, `answered after ${took} ms with a 500 ms timeout`);
  assert.equal(res.body.Meta.Errors[0].Module, 'Send');
  assert.match(res.body.Meta.Errors[0].Text, /did not answer in time/);
  await waitFor(() => destination.aborted >= 1, 3_000, 'the destination request aborted');
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.equal(log.status, 'failed');
  assert.match(log.attempts[0].error, /Timed out after 500 ms/);
  assert.deepEqual(log.payload, JSON.parse(res.sent));
  const { durationMs } = log.attempts[0];
  assert.ok(
    typeof durationMs === 'number' && durationMs >= 450 && durationMs <= took,
    `durationMs ${durationMs}`,
  );
});

test('an answer that stalls mid-body is timed out too: 504 in time, the call aborted', async () => {
  const aborted = destination.aborted;
  const started = Date.now();
  const res = await query('stall-body');
  const took = Date.now() - started;
  assert.equal(res.status, 504);
  assert.ok(took >= 450 && took < 3_000, `answered after ${took} ms with a 500 ms timeout`);
  assert.match(res.body.Meta.Errors[0].Text, /did not answer in time/);
  await waitFor(() => destination.aborted > aborted, 3_000, 'the destination request aborted');
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.match(log.attempts[0].error, /Timed out after 500 ms/);
});

test('the global sync query timeout applies to destinations without their own: 504', async () => {
  const short = await startHarness({
    destinations: [
      { id: 'mpi', url: destination.url },
      { id: 'patient', url: destination.url, queryTimeoutMs: 3_000 },
    ],
    subscribed: [],
    extraSubscriptions: [{ dataModel: 'PatientSearch', destination: 'mpi' }],
    delivery: { syncTimeoutMs: 300 },
  });
  try {
    const aborted = destination.aborted;
    const started = Date.now();
    const res = await query('slow', {}, short); // answers after 1 s
    const took = Date.now() - started;
    assert.equal(res.status, 504);
    assert.ok(took >= 250, `answered after ${took} ms with a 300 ms global timeout`);
    assert.equal(res.body.Meta.Errors[0].Module, 'Send');
    assert.match(res.body.Meta.Errors[0].Text, /did not answer in time/);
    await waitFor(() => destination.aborted > aborted, 3_000, 'the destination request aborted');
    const log = await logOf(res.body.Meta.Logs[0].ID, short);
    assert.equal(log.status, 'failed');
    assert.match(log.attempts[0].error, /Timed out after 300 ms/);
    // A destination's own queryTimeoutMs wins over the global setting.
    const own = await query('slow', { Destinations: [{ ID: 'patient' }] }, short);
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.Meta.Errors, []);
  } finally {
    await short.close();
  }
});

test('an answer streamed over the payload limit is refused while streaming: the destination is cut off early', async () => {
  const count = destination.streams.length;
  // mpi2 has the 120 s default timeout: only hanging up early, not a timeout, ends this quickly.
  const res = await query('stream-50mb', { Destinations: [{ ID: 'mpi2' }] });
  assert.equal(res.status, 502);
  assert.match(res.body.Meta.Errors[0].Text, /over the payload limit/);
  assert.equal(destination.streams.length, count + 1);
  // 50 MB against a 1 MB limit: Switchboard must hang up after about 1 MB (plus socket buffers).
  const streamed = await within(destination.streams[count]!, 5_000, 'the destination connection to close');
  assert.equal(streamed.finished, false, 'the connection was closed before the body ended');
  assert.ok(
    streamed.written < 20 * 1024 * 1024,
    `the destination wrote ${streamed.written} bytes of 50 MB before it was cut off`,
  );
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.equal(log.status, 'failed');
  assert.equal(log.attempts[0].statusCode, null);
  assert.equal(log.attempts[0].error, 'Answer is over the payload limit');
});

test('an answer whose Content-Length is over the payload limit is refused at the header, its body unread', async () => {
  const count = destination.streams.length;
  const res = await query('declared-50mb');
  // The destination sends 64 KiB and waits: reading the body would run into the 500 ms timeout (504).
  assert.equal(res.status, 502);
  assert.match(res.body.Meta.Errors[0].Text, /over the payload limit/);
  const streamed = await within(destination.streams[count]!, 5_000, 'the destination connection to close');
  assert.equal(streamed.finished, false);
  const log = await logOf(res.body.Meta.Logs[0].ID);
  assert.equal(log.status, 'failed');
  assert.equal(log.attempts[0].error, `Answer of ${50 * 1024 * 1024} bytes is over the payload limit`);
});

test('a query body over the payload limit is 413', async () => {
  const token = await h.token();
  const res = await fetch(`${h.url}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      Meta: { DataModel: 'PatientSearch', EventType: 'Query' },
      Pad: 'x'.repeat(2 * 1024 * 1024),
    }),
  });
  assert.equal(res.status, 413);
});

test('routing: exactly one destination, or a clear 400', async () => {
  const none = await query('1', { DataModel: 'Scheduling', EventType: 'AvailableSlots' }, h, {
    StartDateTime: '2026-12-01T00:00:00Z',
  });
  assert.equal(none.status, 400);
  assert.match(none.body.Meta.Errors[0].Text, /No destination is subscribed/);
  assert.equal(none.body.Meta.Errors[0].Type, 'query');
  const several = await query('1', { DataModel: 'ClinicalSummary', EventType: 'PatientQuery' });
  assert.equal(several.status, 400);
  assert.match(several.body.Meta.Errors[0].Text, /2 destinations are subscribed/);
  const named = await query('1', {
    DataModel: 'ClinicalSummary',
    EventType: 'PatientQuery',
    Destinations: [{ ID: 'mpi2' }],
  });
  assert.equal(named.status, 200);
  const two = await query('1', { Destinations: [{ ID: 'mpi' }, { ID: 'mpi2' }] });
  assert.equal(two.status, 400);
  assert.match(two.body.Meta.Errors[0].Text, /exactly one destination/);
  const hidden = await query('1', { Destinations: [{ ID: 'private' }] });
  assert.equal(hidden.status, 404);
});

test('200 slow queries in flight do not hold up asynchronous delivery, nor each other', async () => {
  const before = asyncReceiver.received.length;
  let settled = 0;
  // The destination holds every query until the test releases it (mpi2 has the 120 s default timeout).
  const queries = Array.from({ length: 200 }, () =>
    query('held', { Destinations: [{ ID: 'mpi2' }] }).finally(() => settled++),
  );
  try {
    await waitFor(() => destination.held.length >= 200, 10_000, 'all 200 queries at the destination at once');
    for (let n = 0; n < 20; n++) assert.equal((await h.send(patientAdmin(n))).status, 200);
    await waitFor(() => asyncReceiver.received.length >= before + 20, 5_000, 'deliveries while queries wait');
    assert.equal(settled, 0, 'every delivery arrived while all 200 queries were still waiting');
  } finally {
    destination.release();
    // Even when an assertion above failed: no query may outlive the test.
    await within(Promise.allSettled(queries), 10_000, 'the released queries');
  }
  const answers = await Promise.all(queries);
  assert.equal(settled, 200);
  for (const answer of answers) {
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.Meta.Errors, []);
    assert.deepEqual(answer.body.Patients, ['released']);
  }
});
