// A tiny destination for trying Switchboard: prints every delivery it receives and answers 200.
// Run: node examples/receiver.ts   (listens on 127.0.0.1:9090, or PORT)
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 9090);
createServer((request, response) => {
  let body = '';
  request.setEncoding('utf8');
  request.on('data', (chunk: string) => (body += chunk));
  request.on('end', () => {
    const h = request.headers;
    console.log(
      `${request.method} ${request.url} log=${String(h['x-switchboard-log-id'])} seq=${String(h['x-switchboard-sequence'])}`,
    );
    console.log(`  ${body.slice(0, 500)}`);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
}).listen(port, '127.0.0.1', () => console.log(`receiver listening on http://127.0.0.1:${port}/redox`));
