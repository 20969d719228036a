// The two sides of a delivery promise, checked message by message: senders that record every
// acknowledgement (its log ID, its message ID, which message it was), and a receiver that records
// every arrival per destination. Shared by the process-fault scenarios and their bounded tests,
// so "lost" and "out of order" mean the same thing in `npm run chaos` and in `npm test`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { payload } from '../bench/lib.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds (true) or `timeoutMs` passes (false); the chaos runner reports, not throws. */
export async function until(check: () => boolean, timeoutMs: number, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
  return true;
}

interface FirstArrival {
  destination: string;
  /** Patient.Identifiers[0].ID of the payload: which message it was (bench/lib.ts payload). */
  patient: string;
  messageId: number;
  sequence: number;
}

/**
 * A real HTTP destination per path (`/<destination id>`), answering 200 after `delayMs()` so
 * deliveries stay in flight. An arrival is recorded once its body is in, before the answer: a
 * request whose sender dies while waiting still reached the destination, as it would a real one.
 */
export class LedgerReceiver {
  /** Requests that arrived, redeliveries included. */
  arrivals = 0;
  /** Arrivals below the highest sequence their destination had already seen: order went back. */
  violations = 0;
  /** Arrivals of a log ID that had arrived before (at-least-once allows them; they are reported). */
  duplicates = 0;
  /** Requests whose body arrived and whose answer is not written yet. */
  inFlight = 0;
  /** performance.now() of every arrival, in order (for recovery times). */
  readonly arrivedAt: number[] = [];
  readonly #first = new Map<string, FirstArrival>();
  readonly #highest = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #server: Server;
  base = '';

  private constructor(delayMs: () => number) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.#record(String(req.url).slice(1), req.headers, Buffer.concat(chunks).toString('utf8'));
        this.inFlight++;
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.inFlight--;
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        }, delayMs());
        this.#timers.add(timer);
      });
    });
    // The engine keeps its connections to a destination open between deliveries.
    this.#server.keepAliveTimeout = 60_000;
  }

  static async start(delayMs: () => number): Promise<LedgerReceiver> {
    const receiver = new LedgerReceiver(delayMs);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    receiver.base = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}`;
    return receiver;
  }

  url(destination: string): string {
    return `${this.base}/${destination}`;
  }

  /** Distinct logs that arrived (acknowledged or not: a log stored just before a crash counts). */
  get distinct(): number {
    return this.#first.size;
  }

  first(logId: string): FirstArrival | undefined {
    return this.#first.get(logId);
  }

  #record(destination: string, headers: Record<string, string | string[] | undefined>, body: string): void {
    this.arrivals++;
    this.arrivedAt.push(performance.now());
    const logId = String(headers['x-switchboard-log-id']);
    const sequence = Number(headers['x-switchboard-sequence']);
    const highest = this.#highest.get(destination) ?? 0;
    if (sequence < highest) this.violations++;
    else this.#highest.set(destination, sequence);
    if (this.#first.has(logId)) {
      this.duplicates++;
      return;
    }
    let patient = '';
    try {
      const json = JSON.parse(body) as { Patient?: { Identifiers?: { ID?: string }[] } };
      patient = json.Patient?.Identifiers?.[0]?.ID ?? '';
    } catch {
      // Not the JSON that was sent: the identity check below reports it.
    }
    const messageId = Number(headers['x-switchboard-message-id']);
    this.#first.set(logId, { destination, patient, messageId, sequence });
  }

  close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export interface Ack {
  n: number;
  destination: string;
  messageId: number;
  /** performance.now() when its request started, and when its 200 arrived. */
  sentAt: number;
  ackedAt: number;
}

export interface SendersOptions {
  token: string;
  destinations: string[];
  /** The base URL to send message `n` to; it may wait (for a restart) before answering. */
  target: (n: number) => string | Promise<string>;
  /** While true, senders wait before their next message (backpressure). */
  hold?: () => boolean;
  /** Wait between one sender's messages, in ms (a trickle rather than a flood). */
  pauseMs?: number;
  bytes?: number;
  /** The first message number (senders sharing a receiver must not reuse patients). */
  from?: number;
  /** Sends this many messages, then stops by itself (`finished`); without it, until `stop`. */
  count?: number;
}

/**
 * Concurrent senders of distinct messages: message `n` goes to destination `n mod D` with
 * patient `MRN-<n>`, and each 200 is recorded under the log ID it names. A request that fails
 * without an answer (a killed server) was not acknowledged: it need not be delivered, and the
 * sender goes on with the next message.
 */
export class Senders {
  /** Log ID -> what was acknowledged under it. */
  readonly acked = new Map<string, Ack>();
  readonly answers = new Map<number, number>();
  /** 200s whose Meta did not name one log for the one destination sent to. */
  readonly oddAnswers: string[] = [];
  connectionErrors = 0;
  /** Requests sent and not yet answered. */
  inFlight = 0;
  readonly #options: SendersOptions;
  readonly #loops: Promise<void>[] = [];
  readonly #end: number;
  #next: number;
  #running = true;

  constructor(options: SendersOptions) {
    this.#options = options;
    this.#next = options.from ?? 0;
    this.#end = this.#next + (options.count ?? Infinity);
  }

  /** Starts `workers` loops (apart from the constructor, so `hold` may refer to this object). */
  start(workers: number): void {
    for (let w = 0; w < workers; w++) this.#loops.push(this.#loop());
  }

  /** Resolves once `count` messages were sent and answered (or `stop` was called). */
  async finished(): Promise<void> {
    await Promise.all(this.#loops);
  }

  /** Stops after the requests in flight are answered. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.finished();
  }

  /** "200 x812, 503 x4": every answer status and how often. */
  statuses(): string {
    return [...this.answers]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status} x${count}`)
      .join(', ');
  }

  async #loop(): Promise<void> {
    const { token, destinations, target, hold, pauseMs = 0, bytes = 512 } = this.#options;
    while (this.#running && this.#next < this.#end) {
      if (hold?.()) {
        await sleep(5);
        continue;
      }
      const n = this.#next++;
      const destination = destinations[n % destinations.length]!;
      const url = await target(n);
      const sentAt = performance.now();
      this.inFlight++;
      let answer: { status: number; text: string } | undefined;
      try {
        const res = await fetch(`${url}/endpoint`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: payload(n, bytes, destination),
          signal: AbortSignal.timeout(10_000),
        });
        answer = { status: res.status, text: await res.text() };
      } catch {
        // No answer (the server died or the connection was cut): not acknowledged.
      }
      this.inFlight--;
      if (!answer) {
        this.connectionErrors++;
        await sleep(20);
        continue;
      }
      const { status, text } = answer;
      this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
      if (status === 200) this.#acknowledged(n, destination, text, sentAt);
      // A 503 says nothing was stored; its Retry-After (5 s) is for real clients, and the
      // scenarios want to see how soon a request succeeds again, so they try again sooner.
      else await sleep(50);
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }

  #acknowledged(n: number, destination: string, text: string, sentAt: number): void {
    const meta = (JSON.parse(text) as { Meta: AckMeta }).Meta;
    const logId = meta.Logs[0]?.ID;
    if (logId === undefined || meta.Logs.length !== 1 || meta.Destinations[0]?.ID !== destination) {
      this.oddAnswers.push(text.slice(0, 300));
      return;
    }
    this.acked.set(logId, { n, destination, messageId: meta.Message.ID, sentAt, ackedAt: performance.now() });
  }
}

interface AckMeta {
  Destinations: { ID: string }[];
  Logs: { ID: string }[];
  Message: { ID: number };
}

/** Acknowledged logs that never arrived, and arrivals whose payload or IDs are not those acknowledged. */
export function audit(
  senders: Senders | Senders[],
  receiver: LedgerReceiver,
): { lost: string[]; mismatched: string[] } {
  const lost: string[] = [];
  const mismatched: string[] = [];
  for (const [logId, ack] of [senders].flat().flatMap((s) => [...s.acked])) {
    const first = receiver.first(logId);
    if (!first) lost.push(`${ack.destination}:${logId} (message ${ack.n})`);
    else if (
      first.patient !== `MRN-${ack.n}` ||
      first.destination !== ack.destination ||
      first.messageId !== ack.messageId
    )
      mismatched.push(`${logId}: acknowledged for MRN-${ack.n} at ${ack.destination}, got ${first.patient}`);
  }
  return { lost, mismatched };
}

/**
 * Waits until every acknowledged log has arrived, or nothing arrived for `quietMs` (the engine
 * has given up or is stuck: waiting longer would only delay the report), or `timeoutMs` passed.
 */
export async function drain(
  senders: Senders | Senders[],
  receiver: LedgerReceiver,
  timeoutMs = 120_000,
  quietMs = 15_000,
): Promise<{ lost: string[]; mismatched: string[] }> {
  const deadline = Date.now() + timeoutMs;
  let result = audit(senders, receiver);
  while (result.lost.length > 0 && Date.now() < deadline) {
    const last = receiver.arrivedAt.at(-1) ?? 0;
    if (performance.now() - last > quietMs) break;
    await sleep(100);
    result = audit(senders, receiver);
  }
  return result;
}
