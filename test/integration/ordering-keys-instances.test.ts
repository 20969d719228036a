import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ehrToken, freePort } from '../helpers/child-server.ts';
import { PLATFORM_KEY, harnessConfigFile, patientAdmin } from '../helpers/harness.ts';
import { readReceived, type Received } from '../helpers/receiver.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { createStorage } from '../helpers/storage.ts';
import { settle, waitFor } from '../helpers/wait.ts';

/**
 * Two instances, run as child processes, on one PostgreSQL database (always PostgreSQL, whatever
 * TEST_STORE says: the embedded store has one process only), delivering to one keyed destination.
 * The destination's queue is leased as a whole, so only one instance delivers to it at a time, up
 * to `maxInFlight` keys at once. The instance holding the lease is then killed with SIGKILL while
 * every one of its key lanes has a request waiting at the receiver; the other instance takes the
 * queue over once the lease expires, delivers those logs again and the rest after them. Through it
 * all, each key's logs arrive in sequence order and every acknowledged message is delivered.
 *
 * Requests carry nothing that names the instance; the receiver tells them apart by connection
 * (each instance has its own HTTP agent), and a connection by when it closed: at the kill (the
 * victim's) or when the survivor is stopped at the end.
 */

const PATIENTS = 20;
const MAX_IN_FLIGHT = 8;
const LEASE_MS = 1_500;
const KEY = '$.Patient.Identifiers[0].ID';
/** Phase 1: bursts sent through both instances at once, each delivered before the next. */
const ROUNDS = 8;
const BURST = 20;
const SENDERS = 4;
const MAX_BACKLOG = 150;
/** Messages acknowledged by the survivor after the kill before the senders stop. */
const ACKS_AFTER_KILL = 60;

const dir = mkdtempSync(join(tmpdir(), 'switchboard-keys-instances-'));
const storage = await createStorage('keys_instances', 'postgres');
const live = new Set<ServerProcess>();
let receiver: GatedReceiver | undefined;

after(async () => {
  await Promise.all([...live].map((s) => s.kill()));
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
  await storage.remove();
});

interface Connection {
  id: number;
  /** performance.now() when the receiver saw it close. */
  closedAt?: number;
}

interface Request {
  received: Received;
  logId: string;
  key: string;
  sequence: number;
  connection: Connection;
  /** performance.now() when the body had arrived, and when the exchange ended (answered or cut). */
  arrivedAt: number;
  endedAt?: number;
  answered: boolean;
}

/**
 * A destination that answers 200 after a few ms, or, while held, not until released. It records
 * every request once its body has arrived, with the connection it came on and when the exchange
 * ended: answered, or cut when the sender's connection closed first.
 */
class GatedReceiver {
  readonly requests: Request[] = [];
  readonly connections: Connection[] = [];
  inFlight = 0;
  maxInFlight = 0;
  url = '';
  readonly #server: Server;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #connections = new WeakMap<Socket, Connection>();
  #held: (() => void)[] | undefined;

  constructor() {
    this.#server = createServer((req, res) => {
      const connection = this.#connections.get(req.socket)!;
      readReceived(req, (received) => {
        const request: Request = {
          received,
          logId: String(received.headers['x-switchboard-log-id']),
          key: decodeURIComponent(String(received.headers['x-switchboard-ordering-key'])),
          sequence: Number(received.headers['x-switchboard-sequence']),
          connection,
          arrivedAt: performance.now(),
          answered: false,
        };
        this.requests.push(request);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        res.on('close', () => {
          request.endedAt = performance.now();
          request.answered = res.writableFinished;
          this.inFlight--;
        });
        const answer = (): void => this.#answer(res);
        if (this.#held) this.#held.push(answer);
        else this.#later(answer);
      });
    });
    // Idle connections stay open until their sender closes them, so each one closes when its
    // instance dies or stops, which is what tells the instances apart.
    this.#server.keepAliveTimeout = 120_000;
    this.#server.on('connection', (socket: Socket) => {
      const connection: Connection = { id: this.connections.length };
      this.connections.push(connection);
      this.#connections.set(socket, connection);
      socket.on('close', () => (connection.closedAt = performance.now()));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/redox`;
    return this;
  }

  #later(answer: () => void): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        answer();
      },
      3 + Math.floor(Math.random() * 5),
    );
    this.#timers.add(timer);
  }

  #answer(res: ServerResponse): void {
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  }

  /** From now on requests wait for `release()`. */
  hold(): void {
    this.#held ??= [];
  }

  /** Answers the held requests (whose connections are still open) and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const answer of held) this.#later(answer);
  }

  logIds(): string[] {
    return [...new Set(this.requests.map((r) => r.logId))];
  }

  inFlightRequests(): Request[] {
    return this.requests.filter((r) => r.endedAt === undefined);
  }

  close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Message `n`: for patient `MRN-<n mod PATIENTS>` (its ordering key), telling `n` in its payload. */
function keyedAdmin(n: number): Record<string, unknown> {
  const body = patientAdmin(n % PATIENTS);
  (body.Patient as { Demographics: { FirstName: string } }).Demographics.FirstName = `Msg${n}`;
  return body;
}

interface Sent {
  n: number;
  key: string;
  logId: string;
  via: string;
}

interface Instance {
  name: string;
  url: string;
  configFile: string;
  server?: ServerProcess;
}

const STACK = /\n\s+at |node_modules|\/work\/|\.ts:\d+/;

test(
  'two instances, one keyed destination: one deliverer at a time; the lease holder killed mid-delivery, the other takes over after the lease expires, in order per key',
  { timeout: 60_000 },
  async (t) => {
    const gated = await new GatedReceiver().start();
    receiver = gated;
    const instances: Instance[] = [];
    for (const name of ['A', 'B']) {
      const port = await freePort();
      const configFile = join(dir, `instance-${name}.json`);
      writeFileSync(
        configFile,
        JSON.stringify(
          harnessConfigFile(
            {
              destinations: [{ id: 'd', url: gated.url, orderingKey: KEY, maxInFlight: MAX_IN_FLIGHT }],
              server: { port, logLevel: 'warn' },
              delivery: {
                // The victim's lease holds the queue until it expires; renewed every third of it.
                leaseMs: LEASE_MS,
                pollIntervalMs: 100,
                retryInitialDelayMs: 50,
                retryMaxDelayMs: 500,
                shutdownGraceMs: 1_000,
              },
            },
            { dataDir: join(dir, `data-${name}`), databaseUrl: storage.databaseUrl },
          ),
        ),
      );
      instances.push({ name, url: `http://127.0.0.1:${port}`, configFile });
    }
    const [a, b] = instances as [Instance, Instance];
    const start = async (instance: Instance): Promise<void> => {
      instance.server = await startServerProcess(instance.configFile, instance.url);
      live.add(instance.server);
    };
    const stop = async (instance: Instance): Promise<boolean> => {
      const killed = await instance.server!.kill();
      live.delete(instance.server!);
      return killed;
    };
    const lease = async (): Promise<{ owner: string | null; expiresAt: number | null }> => {
      const [row] = await storage.rows<{ lease_owner: string | null; lease_expires_at: string | null }>(
        "SELECT lease_owner, lease_expires_at FROM queues WHERE org_id = 'acme' AND destination_id = 'd'",
      );
      assert.ok(row, 'the queue of d exists');
      return {
        owner: row.lease_owner,
        expiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
      };
    };

    const acked: Sent[] = [];
    const otherAnswers: string[] = [];
    const answerBodies: string[] = [];
    let next = 1;
    let token = '';
    /** Sends message `n` through `instance`; false when the instance could not be reached. */
    const send = async (n: number, instance: Instance): Promise<boolean> => {
      let answer: Response;
      let text: string;
      try {
        answer = await fetch(`${instance.url}/endpoint`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(keyedAdmin(n)),
          signal: AbortSignal.timeout(10_000),
        });
        text = await answer.text();
      } catch {
        // Not acknowledged: it may or may not have been stored, and need not be delivered.
        return false;
      }
      answerBodies.push(text);
      if (answer.status !== 200) {
        otherAnswers.push(`${instance.name}: ${answer.status} ${text}`);
        return true;
      }
      const meta = (JSON.parse(text) as { Meta: { Logs: { ID: string }[]; Errors: unknown[] } }).Meta;
      if (meta.Errors.length !== 0 || meta.Logs.length !== 1) {
        otherAnswers.push(`${instance.name}: 200 with an unexpected Meta: ${text}`);
        return true;
      }
      acked.push({ n, key: `MRN-${n % PATIENTS}`, logId: meta.Logs[0]!.ID, via: instance.name });
      return true;
    };
    const delivered = (logIds: string[]): boolean => {
      const seen = new Set(gated.logIds());
      return logIds.every((id) => seen.has(id));
    };

    let output = '';
    try {
      await start(a);
      token = await ehrToken(a.url);

      // A alone: the lease owner it writes while a delivery of its own is held at the receiver.
      gated.hold();
      assert.ok(await send(next++, a));
      await waitFor(() => gated.inFlight === 1, 5_000, 'the first delivery');
      const ownerA = (await lease()).owner;
      assert.ok(ownerA, 'A holds the lease while delivering');
      gated.release();
      await waitFor(() => delivered([acked[0]!.logId]), 5_000, 'the first delivery answered');

      // (1) Both up. Bursts through both instances at once, each delivered before the next: the
      // queue is given back between bursts, and both instances, woken at once, race to take it.
      await start(b);
      for (let round = 0; round < ROUNDS; round++) {
        const from = acked.length;
        const burst = Array.from({ length: BURST }, () => next++);
        for (let s = 0; s < burst.length; s += SENDERS)
          await Promise.all(burst.slice(s, s + SENDERS).map((n) => send(n, n % 2 === 0 ? a : b)));
        assert.equal(acked.length - from, BURST, `burst ${round} acknowledged`);
        await waitFor(
          () => delivered(acked.slice(from).map((s) => s.logId)),
          10_000,
          `burst ${round} delivered`,
        );
      }
      const phase1 = gated.requests.length;

      // (2) Every key lane of the lease holder waits at the receiver; then the holder is killed.
      gated.hold();
      let sending = true;
      let connectionErrors = 0;
      const errorsVia = new Set<string>();
      const sendLoop = async (sender: number): Promise<void> => {
        for (let k = sender; sending; k++) {
          while (sending && acked.length - gated.logIds().length > MAX_BACKLOG) await settle(5);
          if (!sending) break;
          const alive = instances.filter((i) => i.server !== undefined && live.has(i.server));
          const via = alive[k % alive.length]!;
          if (!(await send(next++, via))) {
            connectionErrors++;
            errorsVia.add(via.name);
            await settle(10);
          }
        }
      };
      const senders = Promise.all(Array.from({ length: SENDERS }, (_, s) => sendLoop(s)));
      await waitFor(
        () => gated.inFlight === MAX_IN_FLIGHT,
        10_000,
        `${MAX_IN_FLIGHT} deliveries held at the receiver`,
      );
      const held = gated.inFlightRequests();
      const { owner, expiresAt } = await lease();
      assert.ok(owner, 'the queue is leased while its deliveries are in flight');
      const dead = owner === ownerA ? a : b;
      const survivor = dead === a ? b : a;
      // The victim's lease is alive (renewed) at the kill: it holds the queue.
      assert.ok(expiresAt! > Date.now(), 'the lease had not expired at the kill');
      const killAt = performance.now();
      assert.ok(await stop(dead), `${dead.name} died of the SIGKILL`);
      output += `[${dead.name}]\n${dead.server!.output()}`;
      // Every request held at the receiver was the victim's: its connections died with it.
      await waitFor(
        () => held.every((r) => r.connection.closedAt !== undefined),
        5_000,
        'the connections of the held deliveries to close with the victim',
      );
      gated.release();

      // (3) The survivor takes the queue over once the lease expires, and delivers the held logs
      // again, then the rest.
      const takenOver = (await waitFor(
        () => gated.requests.find((r) => r.arrivedAt > killAt),
        LEASE_MS + 5_000,
        `${survivor.name} to deliver after the lease expired`,
      ))!;
      const takeoverMs = takenOver.arrivedAt - killAt;
      // The lease was renewed at most a third of it before the kill.
      assert.ok(
        takeoverMs >= LEASE_MS / 2,
        `${survivor.name} delivered ${Math.round(takeoverMs)} ms after the kill, before the lease expired`,
      );
      const ackedAtKill = acked.length;
      await waitFor(
        () => acked.length >= ackedAtKill + ACKS_AFTER_KILL,
        20_000,
        `${ACKS_AFTER_KILL} messages acknowledged after the kill`,
      );
      sending = false;
      await senders;

      // Every acknowledged log is delivered (waits until nothing is missing, or until nothing is
      // pending and nothing arrived for a second, which fails at once), and nothing stays pending.
      const missing = (): string[] => {
        const seen = new Set(gated.logIds());
        return acked.filter((s) => !seen.has(s.logId)).map((s) => `${s.logId} (message ${s.n} via ${s.via})`);
      };
      const pending = async (): Promise<number> => {
        const logs = await fetch(`${survivor.url}/platform/v1/logs?status=pending&limit=1`, {
          headers: { authorization: `Bearer ${PLATFORM_KEY}` },
        });
        return ((await logs.json()) as { logs: unknown[] }).logs.length;
      };
      const lastArrival = (): number => gated.requests.at(-1)?.arrivedAt ?? 0;
      await waitFor(
        async () =>
          missing().length === 0 || (performance.now() - lastArrival() > 1_000 && (await pending()) === 0),
        20_000,
        'every acknowledged log to be delivered',
      );
      assert.deepEqual(missing(), [], 'acknowledged logs never delivered');
      await waitFor(async () => (await pending()) === 0, 10_000, 'no pending logs');
      for (const r of held)
        assert.ok(
          gated.requests.some((later) => later.logId === r.logId && later.arrivedAt > killAt),
          `log ${r.logId}, in flight at the kill, delivered again by ${survivor.name}`,
        );

      // The survivor stops too: its connections close now, which tells them from the victim's.
      const stopAt = performance.now();
      assert.ok(await stop(survivor), `${survivor.name} died of the SIGKILL`);
      output += `[${survivor.name}]\n${survivor.server!.output()}`;
      await waitFor(
        () => gated.connections.every((c) => c.closedAt !== undefined),
        5_000,
        'every connection to close',
      );

      assert.deepEqual(otherAnswers, [], 'only 200 answers');
      for (const body of answerBodies) assert.doesNotMatch(body, STACK);
      assert.deepEqual([...errorsVia], connectionErrors === 0 ? [] : [dead.name], 'only the victim failed');

      // (a) One deliverer at a time: a request of one instance never overlaps one of the other.
      const early = gated.connections.filter((c) => c.closedAt! < killAt);
      assert.deepEqual(early, [], 'no connection closed before the kill (it could not be told apart)');
      const instanceOf = (r: Request): string =>
        r.connection.closedAt! < stopAt ? dead.name : survivor.name;
      const requests = gated.requests;
      for (const r of requests) assert.ok(r.endedAt !== undefined, `request of ${r.logId} ended`);
      let overlaps = 0;
      for (const x of requests)
        for (const y of requests)
          if (instanceOf(x) === dead.name && instanceOf(y) === survivor.name)
            if (x.arrivedAt < y.endedAt! && y.arrivedAt < x.endedAt!) overlaps++;
      assert.equal(overlaps, 0, 'requests of both instances in flight at once');
      assert.deepEqual(
        requests.filter((r) => !r.answered),
        held,
        'the only requests cut off unanswered are those held at the kill',
      );
      assert.ok(
        requests.every((r) => instanceOf(r) === survivor.name || r.arrivedAt < killAt),
        `${dead.name} delivered nothing after its death`,
      );
      assert.ok(gated.maxInFlight <= MAX_IN_FLIGHT, `at most maxInFlight at once (saw ${gated.maxInFlight})`);
      let handovers = 0;
      for (let k = 1; k < phase1; k++)
        if (instanceOf(requests[k]!) !== instanceOf(requests[k - 1]!)) handovers++;

      // (b) Order per key, across both instances and the takeover: a key's first arrivals of
      // distinct logs are strictly increasing in sequence, and its arrivals never go back.
      const sequenceOf = new Map<string, number>();
      for (const r of requests) {
        const known = sequenceOf.get(r.logId);
        if (known !== undefined) assert.equal(r.sequence, known, `sequence of redelivered log ${r.logId}`);
        sequenceOf.set(r.logId, r.sequence);
      }
      const byKey = new Map<string, Request[]>();
      for (const r of requests) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
      assert.equal(byKey.size, PATIENTS, 'every key was delivered');
      let duplicates = 0;
      for (const [key, list] of byKey) {
        const seen = new Set<string>();
        const firsts: number[] = [];
        for (const r of list) {
          if (seen.has(r.logId)) continue;
          seen.add(r.logId);
          firsts.push(r.sequence);
        }
        for (let k = 1; k < firsts.length; k++)
          assert.ok(
            firsts[k]! > firsts[k - 1]!,
            `${key}: sequence ${firsts[k]} arrived after ${firsts[k - 1]}: ${firsts.join(' ')}`,
          );
        for (let k = 1; k < list.length; k++)
          assert.ok(
            list[k]!.sequence >= list[k - 1]!.sequence,
            `${key}: arrival ${k} (sequence ${list[k]!.sequence}) went back after ${list[k - 1]!.sequence}`,
          );
        duplicates += list.length - firsts.length;
      }
      // The only redeliveries are of the logs whose attempts the kill interrupted: every lane of the
      // victim was waiting on a held request.
      assert.equal(duplicates, held.length, 'redeliveries: the logs held at the kill');
      // The payload of each acknowledged log is its message's.
      const byLogId = new Map(acked.map((s) => [s.logId, s]));
      for (const r of requests) {
        const sent = byLogId.get(r.logId);
        if (!sent) continue; // Stored by the victim, its 200 lost with it.
        assert.equal(r.key, sent.key, `ordering key of log ${r.logId}`);
        const firstName = (r.received.json.Patient as { Demographics: { FirstName: string } }).Demographics
          .FirstName;
        assert.equal(firstName, `Msg${sent.n}`, `payload of log ${r.logId}`);
      }

      const count = (name: string, from: number, to: number): number =>
        requests.slice(from, to).filter((r) => instanceOf(r) === name).length;
      t.diagnostic(
        `phase 1: ${phase1} requests (${a.name} ${count(a.name, 0, phase1)}, ${b.name} ${count(b.name, 0, phase1)}), ` +
          `${handovers} handovers; ${dead.name} killed with ${held.length} held, ${survivor.name} took over ` +
          `after ${Math.round(takeoverMs)} ms; ${requests.length} requests, ${gated.logIds().length} distinct logs, ` +
          `${acked.length} acknowledged, ${duplicates} redelivered, ${connectionErrors} connection errors, ` +
          `${gated.connections.length} connections, at most ${gated.maxInFlight} in flight`,
      );
    } catch (error) {
      for (const i of instances)
        if (i.server && live.has(i.server)) output += `[${i.name}]\n${i.server.output()}`;
      t.diagnostic(`server output:\n${output.slice(-4_000)}`);
      throw error;
    } finally {
      await Promise.all(instances.map((i) => (i.server ? stop(i) : undefined)));
    }
  },
);
