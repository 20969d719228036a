// The baseline of the accept benchmark: a bare Fastify route that parses the JSON body and
// answers 200, with nothing stored. Run by bench/accept.ts as a child process.
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
app.post('/endpoint', async (request) => ({
  Meta: { Received: typeof request.body === 'object', Errors: [] },
}));
app.get('/healthz', async () => ({ status: 'ok' }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
