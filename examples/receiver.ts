// A tiny destination for trying Switchboard: prints every delivery it receives and answers 200.
// It also answers the verification handshake (POST /platform/v1/destinations/app/verify) by
// sending the challenge back. Run: node examples/receiver.ts   (127.0.0.1:9090, or PORT)
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 9090);

/** The challenge of a verification request, by POST (JSON body) or GET (query parameter). */
function challengeOf(url: string, body: string): string | undefined {
  const fromQuery = new URL(url, 'http://receiver').searchParams.get('challenge');
  if (fromQuery) return fromQuery;
  try {
    const parsed = JSON.parse(body) as { challenge?: unknown };
    return typeof parsed.challenge === 'string' ? parsed.challenge : undefined;
  } catch {
    return undefined;
  }
}

createServer((request, response) => {
  let body = '';
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => (body += chunk));
  request.on('end', () => {
    const h = request.headers;
    const challenge = challengeOf(request.url ?? '/', body);
    if (challenge) {
      console.log(`${request.method} ${request.url} verification: answering the challenge`);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge }));
      return;
    }
    console.log(
      `${request.method} ${request.url} log=${String(h['x-switchboard-log-id'])} seq=${String(h['x-switchboard-sequence'])}`,
    );
    console.log(`  ${body.slice(0, 500)}`);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
}).listen(port, '127.0.0.1', () => console.log(`receiver listening on http://127.0.0.1:${port}/redox`));
