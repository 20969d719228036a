import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: { Meta?: Record<string, unknown> } & Record<string, unknown>;
  at: number;
}

/** Reads a request's body and records it as received now; a body that is not JSON stays text. */
export function readReceived(req: IncomingMessage, onReceived: (request: Received) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let json: Received['json'] = {};
    try {
      json = JSON.parse(body) as Received['json'];
    } catch {
      // Kept as text only.
    }
    onReceived({ headers: req.headers, body, json, at: Date.now() });
  });
}

export type Responder = (
  request: Received,
  index: number,
) => { status: number; body?: string; headers?: Record<string, string> } | number;

/** A real HTTP destination that records what it receives and answers as the test says. */
export class Receiver {
  readonly received: Received[] = [];
  respond: Responder = () => 200;
  #server: Server;
  url = '';

  private constructor() {
    this.#server = createServer((req, res) => {
      readReceived(req, (entry) => {
        const index = this.received.length;
        this.received.push(entry);
        const answer = this.respond(entry, index);
        const {
          status,
          body: out,
          headers,
        } = typeof answer === 'number' ? { status: answer, body: undefined, headers: {} } : answer;
        res
          .writeHead(status, { 'content-type': 'application/json', ...headers })
          .end(out ?? JSON.stringify({ ok: status < 300 }));
      });
    });
  }

  static async start(): Promise<Receiver> {
    const receiver = new Receiver();
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    receiver.url = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}/redox`;
    return receiver;
  }

  /** Distinct log IDs in the order they first arrived. */
  logIds(): string[] {
    return [...new Set(this.received.map((r) => String(r.headers['x-switchboard-log-id'])))];
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
