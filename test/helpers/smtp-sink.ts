import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface Mail {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

/** A real SMTP server on a free loopback port that keeps every message it is given. */
export class SmtpSink {
  readonly mails: Mail[] = [];
  /** Answer every RCPT with this error code (e.g. 550) instead of accepting. */
  rejectWith: number | undefined;
  readonly #server: SMTPServer;
  url = '';

  private constructor() {
    this.#server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        if (this.rejectWith === undefined) return callback();
        const error = Object.assign(new Error(`mailbox ${address.address} unavailable`), {
          responseCode: this.rejectWith,
        });
        callback(error);
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          simpleParser(Buffer.concat(chunks)).then(
            (parsed) => {
              this.mails.push({
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((r) => r.address),
                subject: parsed.subject ?? '',
                text: parsed.text ?? '',
              });
              callback();
            },
            (error: Error) => callback(error),
          );
        });
      },
    });
  }

  static async start(): Promise<SmtpSink> {
    const sink = new SmtpSink();
    await new Promise<void>((resolve) => sink.#server.listen(0, '127.0.0.1', resolve));
    const { port } = sink.#server.server.address() as AddressInfo;
    sink.url = `smtp://127.0.0.1:${port}`;
    return sink;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
