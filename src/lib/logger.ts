import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'switchboard' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["verification-token"]', '*.clientSecret', '*.secret'],
      censor: '[redacted]',
    },
  });
}
