import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { request, startHarness, type Harness } from '../helpers/harness.ts';

/** GET /openapi.json: a valid OpenAPI 3.1 document, and every route the server has is in it. */

let h: Harness;
let doc: {
  openapi: string;
  paths: Record<string, Record<string, { tags?: string[]; security?: unknown[]; parameters?: unknown[] }>>;
};

before(async () => {
  h = await startHarness({ destinations: [{ id: 'app', url: 'http://127.0.0.1:9/unused' }] });
  const res = await request(h.url, 'GET', '/openapi.json');
  assert.equal(res.status, 200);
  doc = res.body;
});

after(async () => {
  await h.close();
});

test('the document is valid OpenAPI 3.1 (checked by a validator of the specification)', async () => {
  assert.equal(doc.openapi, '3.1.0');
  const result = await new Validator().validate(doc as unknown as Parameters<Validator['validate']>[0]);
  assert.deepEqual(result, { valid: true });
});

test('every registered route is in the document, with its method and parameters', () => {
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    ),
  );
  // Fastify writes `:id` and `*`, OpenAPI `{id}` and `{*}`; HEAD answers as GET does.
  const registered = h.server.app.registeredRoutes
    .filter((route) => !route.startsWith('HEAD '))
    // The dashboard's HTML pages are for people, not an API: hidden from the document.
    .filter((route) => !route.includes(' /dashboard'))
    .map((route) => route.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{*}'));
  assert.ok(registered.length >= 20, `${registered.length} routes`);
  const missing = registered.filter((route) => !documented.has(route));
  assert.deepEqual(missing, [], 'routes missing from /openapi.json');
  const search = doc.paths['/platform/v1/logs']!.get!;
  assert.ok(search.security, 'the Platform API names its key');
  const names = (search.parameters as { name: string }[]).map((p) => p.name);
  for (const name of ['status', 'q', 'match', 'from', 'to', 'cursor', 'limit'])
    assert.ok(names.includes(name), name);
});
