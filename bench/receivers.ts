// Fast local destinations for the delivery benchmark: one HTTP server, one path per
// destination, answering 200 at once. It checks that x-switchboard-sequence only grows per
// destination (counting redeliveries of the same sequence apart) and reports on GET /stats.
import { createServer } from 'node:http';

let total = 0;
let violations = 0;
let repeats = 0;
/** Wall-clock ms of the first and the last request since the last reset. */
let firstAt = 0;
let lastAt = 0;
const last = new Map<string, number>();

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ total, violations, repeats, firstAt, lastAt }));
    return;
  }
  if (req.method === 'POST' && req.url === '/reset') {
    total = violations = repeats = firstAt = lastAt = 0;
    last.clear();
    res.writeHead(200).end();
    return;
  }
  req.resume();
  req.on('end', () => {
    total++;
    lastAt = Date.now();
    if (firstAt === 0) firstAt = lastAt;
    const header = req.headers['x-switchboard-sequence'];
    if (header !== undefined) {
      const sequence = Number(header);
      const previous = last.get(req.url ?? '') ?? 0;
      if (sequence === previous) repeats++;
      else if (sequence < previous) violations++;
      else last.set(req.url ?? '', sequence);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
