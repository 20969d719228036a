import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readReceived, type Received } from './receiver.ts';

/**
 * A real HTTP destination that answers 200 only after a delay, so deliveries stay in flight
 * for a while. Every request is recorded when its body has arrived, before the answer: a
 * request whose sender dies while waiting still counts as received, as it would for a real
 * destination.
 */
export class SlowReceiver {
  readonly received: Received[] = [];
  /** Requests whose body arrived and whose answer has not been written yet. */
  inFlight = 0;
  /** The most requests that were ever in flight at once (`inFlight`'s high-water mark). */
  maxInFlight = 0;
  /** The requests counted by `inFlight`. */
  readonly #inFlight = new Set<Received>();
  url = '';
  readonly #server: Server;
  readonly #timers = new Set<NodeJS.Timeout>();

  private constructor(delayMs: () => number) {
    this.#server = createServer((req, res) => {
      readReceived(req, (request) => {
        this.received.push(request);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        this.#inFlight.add(request);
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.inFlight--;
          this.#inFlight.delete(request);
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        }, delayMs());
        this.#timers.add(timer);
      });
    });
  }

  static async start(delayMs: () => number): Promise<SlowReceiver> {
    const receiver = new SlowReceiver(delayMs);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    receiver.url = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}/redox`;
    return receiver;
  }

  /** Distinct log IDs in the order they first arrived. */
  logIds(): string[] {
    return [...new Set(this.received.map((r) => String(r.headers['x-switchboard-log-id'])))];
  }

  /** Log IDs of the requests in flight now (arrived, not answered yet). */
  inFlightLogIds(): string[] {
    return [...this.#inFlight].map((r) => String(r.headers['x-switchboard-log-id']));
  }

  close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
