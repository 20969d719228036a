// A local HTTP receiver that misbehaves in one way until told to recover (chaos/receiver-faults.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../bench/lib.ts';

/** The ways a receiver fails; see receiver-faults.ts for what each one checks. */
export const FAULT_KINDS = ['refused', 'silent', 'error-500', 'reset', 'stall', 'malformed', 'huge'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Delivery {
  logId: string;
  sequence: number;
  /** performance.now() when the receiver took it. */
  at: number;
}

/** 50 MB of JSON, allocated once and shared by every answer of the `huge` receiver. */
let hugeBody: Buffer | undefined;
const huge = (): Buffer =>
  (hugeBody ??= Buffer.concat([
    Buffer.from('{"pad":"'),
    Buffer.alloc(50 * 1024 * 1024, 'x'),
    Buffer.from('"}'),
  ]));

export class FaultyReceiver {
  readonly kind: FaultKind;
  /** Whether it still misbehaves. */
  faulty = true;
  /** Requests that reached it while it misbehaved (none for `refused`: nothing listens). */
  faultRequests = 0;
  /** Requests it answered 200 completely, in the order they arrived. */
  readonly deliveries: Delivery[] = [];
  url = '';
  readonly #server: Server;
  readonly #port: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  #onDelivery: (() => void) | undefined;

  private constructor(kind: FaultKind, port: number) {
    this.kind = kind;
    this.#port = port;
    this.#server = createServer((req, res) => {
      res.on('error', () => undefined);
      req.resume();
      req.on('end', () => this.#answer(req, res));
    });
    // A client that hangs up mid-answer (the engine's timeout, or it read enough) is expected.
    this.#server.on('connection', (socket) => socket.on('error', () => undefined));
  }

  /** Listening on a free port, except `refused`, whose port stays closed until it recovers. */
  static async start(kind: FaultKind): Promise<FaultyReceiver> {
    const receiver = new FaultyReceiver(kind, kind === 'refused' ? await freePort() : 0);
    if (kind !== 'refused') await receiver.#listen();
    receiver.url = `http://127.0.0.1:${receiver.#port || (receiver.#server.address() as AddressInfo).port}/${kind}`;
    return receiver;
  }

  /** One that answers 200 from the start (it has recovered before anything is sent). */
  static async healthy(path = 'healthy'): Promise<FaultyReceiver> {
    const receiver = await FaultyReceiver.start('error-500');
    await receiver.recover();
    receiver.url = receiver.url.replace(/\/error-500$/, `/${path}`);
    return receiver;
  }

  /** Stops misbehaving: from now on every request is answered 200 at once. */
  async recover(): Promise<void> {
    this.faulty = false;
    if (this.kind === 'refused') await this.#listen();
  }

  /**
   * Resolves with the time (performance.now()) of the delivery that completed `logIds`, or
   * undefined if that has not happened within `timeoutMs`.
   */
  whenDelivered(logIds: string[], timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const seen = new Set(this.deliveries.map((d) => d.logId));
        if (!logIds.every((id) => seen.has(id))) return false;
        clearTimeout(timer);
        this.#onDelivery = undefined;
        resolve(this.deliveries.find((d) => d.logId === logIds.at(-1))?.at);
        return true;
      };
      const timer = setTimeout(() => {
        this.#onDelivery = undefined;
        resolve(undefined);
      }, timeoutMs);
      if (!check()) this.#onDelivery = check;
    });
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    if (!this.#server.listening) return;
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.#port, '127.0.0.1', resolve));
  }

  #delivered(req: IncomingMessage): void {
    this.deliveries.push({
      logId: String(req.headers['x-switchboard-log-id']),
      sequence: Number(req.headers['x-switchboard-sequence']),
      at: performance.now(),
    });
    this.#onDelivery?.();
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    if (!this.faulty) {
      this.#delivered(req);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    const n = this.faultRequests++;
    const socket = req.socket;
    switch (this.kind) {
      case 'refused':
        // Unreachable: nothing listens while it is faulty.
        break;
      case 'silent':
        // The request is read, and never answered: only the engine's timeout ends it.
        break;
      case 'error-500':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
        break;
      case 'reset':
        // Alternately a reset before any byte of the answer, and one after the status line,
        // headers and the start of the body (50 ms later, so that those bytes are read first).
        if (n % 2 === 0) socket.resetAndDestroy();
        else {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"ok":', () => this.#later(50, () => socket.resetAndDestroy()));
        }
        break;
      case 'stall': {
        // A 200's headers and the start of its body, then one byte a second: it never completes.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"ok":');
        const trickle = setInterval(() => res.write(' '), 1_000);
        this.#timers.add(trickle);
        res.on('close', () => {
          clearInterval(trickle);
          this.#timers.delete(trickle);
        });
        break;
      }
      case 'malformed':
        // Alternately bytes that are not HTTP at all (a TLS record), and a 200 with two
        // different Content-Lengths (a framing no client may accept, RFC 9112 6.3).
        socket.end(
          n % 2 === 0
            ? Buffer.from([0x16, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28, 0x0d, 0x0a, 0x0d, 0x0a])
            : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}',
        );
        break;
      case 'huge':
        // A 2xx is received, whatever its body: this one counts, and must not be buffered whole.
        this.#delivered(req);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(huge().length) });
        res.end(huge());
        break;
    }
  }

  #later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
  }
}
