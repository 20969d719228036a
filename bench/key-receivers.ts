// Local destinations for the ordering-key benchmark: one HTTP server, one path per destination,
// answering 200 after DELAY_MS (a receiver that far away), or 503 for the ordering key FAIL_KEY
// (a patient whose every message the receiver refuses). It checks that x-switchboard-sequence
// only grows per destination and ordering key, and reports on GET /stats the deliveries that
// succeeded (the failing key's attempts apart).
import { createServer } from 'node:http';

const DELAY_MS = Number(process.env.DELAY_MS ?? 0);
const FAIL_KEY = process.env.FAIL_KEY;
let total = 0;
let failed = 0;
let violations = 0;
let repeats = 0;
let inFlight = 0;
let maxInFlight = 0;
let firstAt = 0;
let lastAt = 0;
const last = new Map<string, number>();

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ total, failed, violations, repeats, firstAt, lastAt, maxInFlight }));
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    total = failed = violations = repeats = firstAt = lastAt = maxInFlight = 0;
    last.clear();
    res.writeHead(200).end();
    return;
  }
  req.resume();
  req.on('end', () => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const key = decodeURIComponent(String(req.headers['x-switchboard-ordering-key'] ?? ''));
    const answer = (): void => {
      inFlight--;
      if (FAIL_KEY !== undefined && key === FAIL_KEY) {
        failed++;
        res.writeHead(503, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
        return;
      }
      total++;
      lastAt = Date.now();
      if (firstAt === 0) firstAt = lastAt;
      const sequence = Number(req.headers['x-switchboard-sequence']);
      const lane = `${req.url} ${key}`;
      const previous = last.get(lane) ?? 0;
      if (sequence === previous) repeats++;
      else if (sequence < previous) violations++;
      else last.set(lane, sequence);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    };
    if (DELAY_MS > 0) setTimeout(answer, DELAY_MS);
    else answer();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
