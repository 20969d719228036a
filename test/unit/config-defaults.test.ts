import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, parseConfig, type Config } from '../../src/config.ts';

const MB = 1024 * 1024;
const S = 1_000;
const H = 3_600;

/** SPEC section 8, as the settings that hold each default. */
function assertSpecDefaults(config: Readonly<Config>): void {
  const { server, delivery } = config;
  assert.equal(server.port, 8080, 'port');
  assert.equal(server.payloadLimitBytes, 10 * MB, 'payload limit 10 MB');
  assert.equal(server.rateLimit, 7_500, 'rate limit: 7,500 requests');
  assert.equal(server.rateWindowMs, 5 * 60 * S, '... per rolling 5 minutes');
  assert.equal(delivery.syncTimeoutMs, 120 * S, 'sync query timeout 120 s');
  assert.equal(delivery.asyncTimeoutMs, 60 * S, 'async attempt timeout 60 s');
  assert.equal(delivery.retryInitialDelayMs, 10 * S, 'production retry: first wait 10 s');
  assert.equal(delivery.retryMaxDelayMs, 120 * S, 'production retry: at most every 120 s');
  assert.equal(delivery.nonProductionRetryDelayMs, 5 * S, 'staging/development: one retry after 5 s');
  assert.equal(delivery.alertAfterAttempts, 3, 'alert at the 3rd failed attempt');
  assert.equal(server.accessTokenSeconds, H, 'token lifetime 1 h (/v2/auth/token)');
  assert.equal(server.legacyTokenSeconds, 24 * H, 'token lifetime 24 h (/auth/authenticate)');
  assert.equal(server.idempotencyWindowMs, 24 * H * S, 'idempotency window 24 h');
  assert.equal(delivery.leaseMs, 30 * S, 'lease 30 s');
  // Not in SPEC 8: Switchboard's own (docs/design.md, Retention).
  assert.equal(config.retention.logsMs, 30 * 24 * H * S, 'done logs kept 30 days');
  assert.equal(config.retention.intervalMs, H * S, 'purged hourly');
}

test('with no file and no environment variables, every setting has its SPEC section 8 default', () => {
  const config = loadConfig({});
  assertSpecDefaults(config);
  assert.equal(config.server.publicUrl, undefined, 'publicUrl has no default: it is the deployment’s');
  assert.deepEqual(config.organizations, []);
});

test('a file that sets a few keys of a section keeps the defaults of the rest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ server: { host: '127.0.0.1' }, delivery: { concurrency: 8 } }));
    const config = loadConfig({ SWITCHBOARD_CONFIG: file });
    assertSpecDefaults(config);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.delivery.concurrency, 8);
    assert.equal(config.configFile, file, 'recorded, so API refusals can name it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a subscription routes a data model or FHIR events, never both or neither', () => {
  const org = (subscription: Record<string, unknown>) => ({
    organizations: [
      {
        id: 'acme',
        name: 'Acme',
        sources: [
          { id: 'ehr', name: 'EHR', environment: 'production', clientId: 'c', clientSecret: 'x'.repeat(16) },
        ],
        destinations: [{ id: 'app', name: 'App', environment: 'production', url: 'http://127.0.0.1:9/x' }],
        subscriptions: [{ source: 'ehr', destination: 'app', ...subscription }],
      },
    ],
  });
  assert.ok(parseConfig(org({ fhirEvents: ['admit-notification'] })));
  assert.ok(parseConfig(org({ dataModel: 'PatientAdmin' })));
  for (const bad of [{}, { dataModel: 'PatientAdmin', fhirEvents: ['x'] }])
    assert.throws(() => parseConfig(org(bad)), /organizations\.0\.subscriptions\.0: needs either dataModel/);
});
