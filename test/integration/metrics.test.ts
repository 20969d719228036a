import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { attemptsRecorded, patientAdmin, request, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { sample, scrape, value } from '../helpers/prometheus.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * GET /metrics, read with a Prometheus text-format parser (helpers/prometheus.ts), not string
 * search: the series SPEC 6 names, their types and labels, and values that follow what happened.
 */

let h: Harness;
let ok: Receiver;
let down: Receiver;

before(async () => {
  ok = await Receiver.start();
  down = await Receiver.start();
  down.respond = () => 503;
  h = await startHarness({
    destinations: [
      { id: 'app', url: ok.url },
      { id: 'down', url: down.url },
      { id: 'held', url: ok.url },
    ],
    subscribed: ['app'],
  });
});

after(async () => {
  await h.close();
  await ok.close();
  await down.close();
});

test('queues, attempts, acceptance, latency and HTTP, as the store and the engine saw them', async () => {
  await h.platform('POST', '/platform/v1/destinations/held/queue/pause', { by: 'ops' });
  for (let n = 1; n <= 3; n++) assert.equal((await h.send(patientAdmin(n))).status, 200);
  for (const id of ['down', 'held'])
    assert.equal((await h.send(patientAdmin(10, { Destinations: [{ ID: id }] }))).status, 200);
  await waitFor(() => ok.received.length === 3, 5_000, 'three deliveries');
  await attemptsRecorded(h, 2, 'down');
  await h.settled();
  h.clock.advance(90_000);
  // The queue figures are cached for a second of the clock: a scrape sees them as of now.
  h.clock.advance(1_000);

  const m = await scrape(h);
  for (const [name, type] of [
    ['switchboard_queue_depth', 'GAUGE'],
    ['switchboard_queue_oldest_age_seconds', 'GAUGE'],
    ['switchboard_queue_state', 'GAUGE'],
    ['switchboard_attempts_total', 'COUNTER'],
    ['switchboard_delivery_latency_seconds', 'HISTOGRAM'],
    ['switchboard_attempt_duration_seconds', 'HISTOGRAM'],
    ['switchboard_accepted_total', 'COUNTER'],
    ['switchboard_http_requests_total', 'COUNTER'],
    ['switchboard_http_request_duration_seconds', 'HISTOGRAM'],
  ] as const)
    assert.equal(m.get(name)?.type, type, name);

  const acme = (destination: string): Record<string, string> => ({ organization: 'acme', destination });
  assert.equal(value(m, 'switchboard_queue_depth', acme('app')), 0);
  assert.equal(value(m, 'switchboard_queue_depth', acme('down')), 1);
  assert.equal(value(m, 'switchboard_queue_depth', acme('held')), 1);
  assert.ok(value(m, 'switchboard_queue_oldest_age_seconds', acme('down')) >= 91, 'age on the clock');
  assert.equal(value(m, 'switchboard_queue_oldest_age_seconds', acme('app')), 0);
  for (const [destination, current] of [
    ['app', 'active'],
    ['down', 'blocked'],
    ['held', 'paused'],
  ] as const)
    for (const state of ['active', 'blocked', 'paused'])
      assert.equal(
        value(m, 'switchboard_queue_state', { ...acme(destination), state }),
        state === current ? 1 : 0,
        `${destination} ${state}`,
      );
  // The other organization's queue is reported too, under its own label.
  assert.equal(value(m, 'switchboard_queue_depth', { organization: 'other', destination: 'private' }), 0);

  assert.equal(value(m, 'switchboard_attempts_total', { ...acme('app'), outcome: 'succeeded' }), 3);
  assert.equal(value(m, 'switchboard_attempts_total', { ...acme('down'), outcome: 'failed' }), 2);
  assert.equal(value(m, 'switchboard_accepted_total', { organization: 'acme', source: 'ehr' }), 5);
  assert.equal(
    value(m, 'switchboard_delivery_latency_seconds_count', acme('app')),
    3,
    'one per delivered log',
  );
  assert.equal(value(m, 'switchboard_delivery_latency_seconds_bucket', { ...acme('app'), le: '+Inf' }), 3);
  assert.ok(value(m, 'switchboard_delivery_latency_seconds_sum', acme('app')) >= 0);
  assert.equal(
    sample(m, 'switchboard_delivery_latency_seconds_count', acme('down')),
    undefined,
    'none delivered',
  );
  assert.equal(value(m, 'switchboard_attempt_duration_seconds_count', acme('down')), 2);
  assert.equal(value(m, 'switchboard_http_requests_total', { route: '/endpoint', status: '200' }), 5);
  assert.ok(
    value(m, 'switchboard_http_request_duration_seconds_count', { route: '/endpoint', status: '200' }) >= 5,
  );
  // Routes are patterns, never raw paths (one series per log ID would have no end).
  const routes = m.get('switchboard_http_requests_total')!.metrics.map((s) => s.labels?.route ?? '');
  assert.ok(routes.includes('/platform/v1/destinations/:id/queue/pause'), routes.join(', '));
  assert.ok(!routes.some((r) => r.includes('/held/')));
});

test('an unknown path is counted under one route, not its own', async () => {
  await request(h.url, 'GET', '/no/such/path/123');
  const m = await scrape(h);
  assert.ok(value(m, 'switchboard_http_requests_total', { route: 'unmatched', status: '404' }) >= 1);
});

test('with metrics.token set, a scrape needs it', async () => {
  const guarded = await startHarness({
    destinations: [{ id: 'app', url: ok.url }],
    metrics: { token: 'metrics-token-0123456789' },
  });
  try {
    for (const authorization of [undefined, 'Bearer wrong-token-000000000', 'metrics-token-0123456789']) {
      const res = await request(guarded.url, 'GET', '/metrics', {
        headers: authorization ? { authorization } : {},
      });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(res.body.error.code, 'UNAUTHORIZED');
    }
    await scrape(guarded, { authorization: 'Bearer metrics-token-0123456789' });
  } finally {
    await guarded.close();
  }
});
