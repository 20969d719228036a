import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { keyId } from '../../src/lib/secret-box.ts';
import { startServer } from '../../src/server.ts';
import { harnessConfig, patientAdmin, startHarness, type HarnessOptions } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { createStorage, type TestStorage } from '../helpers/storage.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Destinations' signing secrets and verification tokens are sealed in the store with
 * SWITCHBOARD_SECRET_KEY (AES-256-GCM), still sent right, sealed anew when the key rotates, and
 * without the key that sealed them start-up refuses.
 */

const TOKEN = 'verify-me-0123456789-plain';
const SIGNING = 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LTAxMjM0NTY3';
let receiver: Receiver;
let storage: TestStorage;
const keys = [randomBytes(32), randomBytes(32), randomBytes(32)];

before(async () => {
  receiver = await Receiver.start();
  storage = await createStorage('secrets');
});

after(async () => {
  await receiver.close();
  await storage.remove();
});

const options = (server: HarnessOptions['server']): HarnessOptions => ({
  destinations: [{ id: 'app', url: receiver.url, signingSecret: SIGNING, verificationToken: TOKEN }],
  storage,
  server,
});

async function deliverOne(server: HarnessOptions['server'], n: number): Promise<void> {
  const h = await startHarness(options(server));
  try {
    assert.equal((await h.send(patientAdmin(n))).status, 200);
    await waitFor(() => receiver.received.length === n, 5_000, `delivery ${n}`);
    const got = receiver.received[n - 1]!;
    assert.equal(got.headers['verification-token'], TOKEN, 'sent in the clear to the destination');
    assert.match(String(got.headers['webhook-signature']), /^v1,/);
  } finally {
    await h.close();
  }
}

async function stored(): Promise<{ verification_token: string; signing_secret: string }> {
  const [row] = await storage.rows<{ verification_token: string; signing_secret: string }>(
    "SELECT verification_token, signing_secret FROM destinations WHERE org_id = 'acme' AND id = 'app'",
  );
  return row!;
}

test('sealed with the key; sent right; sealed anew after a rotation; refused without the key that sealed them', async () => {
  await deliverOne({ secretKey: keys[0]!.toString('base64') }, 1);
  let row = await stored();
  for (const value of [row.verification_token, row.signing_secret]) {
    assert.ok(value.startsWith(`enc:v1:${keyId(keys[0]!)}:`), value);
    assert.ok(!value.includes(TOKEN) && !value.includes('c2VjcmV0'));
  }

  await deliverOne(
    { secretKey: keys[1]!.toString('hex'), previousSecretKeys: [keys[0]!.toString('base64')] },
    2,
  );
  row = await stored();
  assert.ok(row.signing_secret.startsWith(`enc:v1:${keyId(keys[1]!)}:`), 'sealed with the new key now');

  await assert.rejects(startHarness(options({ secretKey: keys[2]!.toString('base64') })), {
    name: 'SecretKeyError',
    message: new RegExp(`sealed with key ${keyId(keys[1]!)}`),
  });
  await assert.rejects(startHarness(options({})), { name: 'SecretKeyError' });
});

test('a destination created or changed through the Platform API is sealed too, and read back opened', async () => {
  const other = await createStorage('secrets-api');
  const h = await startHarness({
    destinations: [],
    storage: other,
    server: { secretKey: keys[0]!.toString('base64') },
  });
  try {
    const created = await h.platform('POST', '/platform/v1/destinations', {
      id: 'api-app',
      name: 'API app',
      environment: 'production',
      url: receiver.url,
      signingSecret: SIGNING,
      verificationToken: TOKEN,
    });
    assert.equal(created.status, 201);
    const patched = await h.platform('PATCH', '/platform/v1/destinations/api-app', {
      verificationToken: `${TOKEN}-2`,
    });
    assert.equal(patched.status, 200);
    const [row] = await other.rows<{ verification_token: string; signing_secret: string }>(
      "SELECT verification_token, signing_secret FROM destinations WHERE id = 'api-app'",
    );
    for (const value of [row!.verification_token, row!.signing_secret])
      assert.ok(value.startsWith(`enc:v1:${keyId(keys[0]!)}:`), value);
    const verified = await h.platform('POST', '/platform/v1/destinations/api-app/verify');
    assert.equal(receiver.received.at(-1)?.headers['verification-token'], `${TOKEN}-2`, 'opened to be sent');
    assert.equal(verified.status, 200);
  } finally {
    await h.close();
    await other.remove();
  }
});

test('without a key, start-up warns that the secrets are stored in clear', async () => {
  const plain = await createStorage('secrets-plain');
  const lines: string[] = [];
  try {
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const server = await startServer(harnessConfig({ ...options({}), storage: plain }, plain), {
      logger,
      delivery: false,
    });
    await server.close();
    assert.match(lines.join(''), /SWITCHBOARD_SECRET_KEY is not set/);
    const [row] = await plain.rows<{ verification_token: string }>(
      "SELECT verification_token FROM destinations WHERE id = 'app'",
    );
    assert.equal(row!.verification_token, TOKEN);
  } finally {
    await plain.remove();
  }
});
