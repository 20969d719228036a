import type { ServerResponse } from 'node:http';

/** What a destination saw while it streamed a large answer. */
export interface Streamed {
  /** Bytes handed to the connection before it closed or the body ended. */
  written: number;
  /** True only when the whole body was written: the caller read to the end. */
  finished: boolean;
}

export interface StreamOptions {
  /** Size of the whole body. */
  totalBytes: number;
  /** Send `Content-Length: totalBytes` up front; without it the body is chunked. */
  declareLength?: boolean;
  /** Stop writing after this many bytes and wait for the caller to hang up. */
  stopAfterBytes?: number;
  contentType?: string;
}

const CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * Streams a large filler answer in 64 KiB chunks, honouring back-pressure, so what it manages to
 * write tracks what the caller actually reads. Resolves when the connection closes (the caller
 * hung up) or the body is complete.
 */
export function streamAnswer(res: ServerResponse, options: StreamOptions): Promise<Streamed> {
  const report: Streamed = { written: 0, finished: false };
  const limit = Math.min(options.totalBytes, options.stopAfterBytes ?? options.totalBytes);
  return new Promise((resolve) => {
    let closed = false;
    res.on('error', () => {
      // A write after the caller hung up; 'close' reports it.
    });
    res.once('close', () => {
      closed = true;
      report.finished = res.writableFinished;
      resolve(report);
    });
    res.writeHead(200, {
      'content-type': options.contentType ?? 'application/json',
      ...(options.declareLength ? { 'content-length': String(options.totalBytes) } : {}),
    });
    const write = (): void => {
      while (!closed && report.written < limit) {
        const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, limit - report.written));
        report.written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', write);
      }
      if (!closed && report.written >= options.totalBytes) res.end();
    };
    write();
  });
}

/** `promise`, or a failure naming `what` when it takes longer than `ms` of real time. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
