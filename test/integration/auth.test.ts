import assert from 'node:assert/strict';
import { randomUUID, scryptSync } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { pino } from 'pino';
import { startServer } from '../../src/server.ts';
import { createStorage, type TestStorage } from '../helpers/storage.ts';
import {
  SECRET,
  harnessConfig,
  patientAdmin,
  request,
  startHarness,
  type Harness,
} from '../helpers/harness.ts';

const ALGS = ['RS256', 'RS384', 'ES256', 'ES384'] as const;
const keys = new Map<string, { privateKey: CryptoKey; jwk: JWK }>();
let jwksServer: Server;
let jwksUrl: string;
let remoteKey: { privateKey: CryptoKey; jwk: JWK };
let h: Harness;

async function keyPair(alg: string, kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

before(async () => {
  for (const alg of ALGS) keys.set(alg, await keyPair(alg, `k-${alg}`));
  remoteKey = await keyPair('ES256', 'remote-1');
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [remoteKey.jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  h = await startHarness({
    destinations: [{ id: 'app', url: 'http://127.0.0.1:9/unused' }],
    subscribed: [],
    extraSources: [
      {
        id: 'app-jwt',
        name: 'Signed app',
        environment: 'production',
        clientId: 'jwt-client',
        jwks: { keys: [...keys.values()].map((k) => k.jwk) },
      },
      {
        id: 'app-remote',
        name: 'Remote keys',
        environment: 'production',
        clientId: 'remote-client',
        jwksUrl,
      },
    ],
    // These tests refuse many bad credentials on purpose; the lockout has its own tests
    // (sign-in-lockout.test.ts).
    server: {
      signInLockout: {
        maxFailures: 10_000,
        ipMaxFailures: 10_000,
        windowMs: 60_000,
        lockMs: 1,
        maxLockMs: 1,
      },
    },
  });
});

after(async () => {
  await h.close();
  jwksServer.close();
});

interface AssertionOptions {
  alg?: string;
  clientId?: string;
  sub?: string;
  aud?: string;
  expiresIn?: number;
  jti?: string | null;
  key?: CryptoKey;
  kid?: string;
}

async function assertion(o: AssertionOptions = {}): Promise<string> {
  const alg = o.alg ?? 'RS256';
  const pair = keys.get(alg)!;
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg, kid: o.kid ?? pair.jwk.kid })
    .setIssuer(o.clientId ?? 'jwt-client')
    .setSubject(o.sub ?? o.clientId ?? 'jwt-client')
    .setAudience(o.aud ?? `${h.url}/v2/auth/token`)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresIn ?? 240));
  if (o.jti !== null) jwt.setJti(o.jti ?? randomUUID());
  return jwt.sign(o.key ?? pair.privateKey);
}

function tokenRequest(fields: Record<string, string>, base = h.url) {
  return request(base, 'POST', '/v2/auth/token', {
    body: new URLSearchParams({ grant_type: 'client_credentials', ...fields }),
  });
}

const withAssertion = (jwt: string) =>
  tokenRequest({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt,
  });

async function canSend(token: string): Promise<number> {
  return (await h.send(patientAdmin(1), { token })).status;
}

describe('private_key_jwt client assertions', () => {
  for (const alg of ALGS)
    test(`${alg}: a valid assertion gets a working token`, async () => {
      const res = await withAssertion(await assertion({ alg }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 3600);
      assert.equal(await canSend(res.body.access_token), 200);
    });

  test('a JWKS URL is fetched and used', async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'remote-1' })
      .setIssuer('remote-client')
      .setSubject('remote-client')
      .setAudience(`${h.url}/v2/auth/token`)
      .setJti(randomUUID())
      .setExpirationTime(now + 120)
      .sign(remoteKey.privateKey);
    const res = await withAssertion(jwt);
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('a replayed jti is refused', async () => {
    const jwt = await assertion({ jti: 'once-only' });
    assert.equal((await withAssertion(jwt)).status, 200);
    const replay = await withAssertion(jwt);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error, 'invalid_client');
    const sameJti = await withAssertion(await assertion({ jti: 'once-only', alg: 'ES256' }));
    assert.equal(sameJti.status, 401, 'the jti, not the token text, is what cannot be reused');
  });

  const refused: [string, () => Promise<string>][] = [
    ['wrong audience', () => assertion({ aud: 'https://elsewhere.example/v2/auth/token' })],
    ['sub differs from iss', () => assertion({ sub: 'someone-else' })],
    ['exp more than 5 minutes ahead', () => assertion({ expiresIn: 600 })],
    ['already expired', () => assertion({ expiresIn: -120 })],
    ['no jti', () => assertion({ jti: null })],
    ['unknown client', () => assertion({ clientId: 'nobody' })],
    ['a client with only a secret', () => assertion({ clientId: 'ehr-client' })],
    [
      'signed by a key that is not registered',
      async () => assertion({ key: (await generateKeyPair('RS256')).privateKey }),
    ],
    [
      'an HS256 assertion',
      () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer('jwt-client')
          .setSubject('jwt-client')
          .setAudience(`${h.url}/v2/auth/token`)
          .setJti(randomUUID())
          .setExpirationTime('2m')
          .sign(new TextEncoder().encode(SECRET)),
    ],
    ['not a JWT at all', async () => 'not.a.jwt'],
  ];
  for (const [name, make] of refused)
    test(`refused: ${name}`, async () => {
      const res = await withAssertion(await make());
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.deepEqual(res.body, {
        error: 'invalid_client',
        error_description: 'Client authentication failed',
      });
    });

  test('the assertion type must be jwt-bearer, and one method at a time', async () => {
    const wrongType = await tokenRequest({
      client_assertion_type: 'urn:x',
      client_assertion: await assertion(),
    });
    assert.equal(wrongType.status, 400);
    const both = await tokenRequest({
      client_secret: SECRET,
      client_id: 'jwt-client',
      client_assertion: await assertion(),
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    });
    assert.equal(both.status, 400);
  });
});

/** A form POST whose Host (which fetch does not let a caller set) is chosen by the test. */
function rawTokenRequest(
  base: string,
  fields: Record<string, string>,
  headers: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  const url = new URL('/v2/auth/token', base);
  const body = new URLSearchParams({ grant_type: 'client_credentials', ...fields }).toString();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const UNUSED = [{ id: 'app', url: 'http://127.0.0.1:9/unused' }];

/** Runs `work` on a fresh storage, removed afterwards; servers restarted on it share a store. */
async function withStorage(work: (storage: TestStorage) => Promise<void>): Promise<void> {
  const storage = await createStorage('auth');
  try {
    await work(storage);
  } finally {
    await storage.remove();
  }
}

/** A first server on `storage` issues a token that works, and is closed. */
async function firstRunToken(storage: TestStorage): Promise<string> {
  const server = await startHarness({ destinations: UNUSED, storage });
  try {
    const token = await server.token();
    assert.equal((await server.send(patientAdmin(1), { token })).status, 200);
    return token;
  } finally {
    await server.close();
  }
}

test('a server whose sources sign assertions warns at start when server.publicUrl is not set', async () => {
  const startupLog = async (server: Record<string, unknown>): Promise<string> => {
    const lines: string[] = [];
    await withStorage(async (storage) => {
      const config = harnessConfig(
        {
          destinations: [{ id: 'app', url: 'http://127.0.0.1:9/unused' }],
          subscribed: [],
          server,
          extraSources: [
            { id: 'app-jwt', name: 'Signed app', environment: 'production', clientId: 'jwt-client', jwksUrl },
          ],
        },
        storage,
      );
      const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
      const started = await startServer(config, { logger, delivery: false });
      await started.close();
    });
    return lines.join('');
  };
  assert.match(await startupLog({}), /server\.publicUrl is not set/);
  assert.doesNotMatch(await startupLog({ publicUrl: 'https://switchboard.example' }), /publicUrl/);
});

describe('aud when server.publicUrl is set: the Host header does not count', () => {
  // The trailing slash checks that the configured URL is normalised; the trusted proxy lets the
  // test show that a forwarded host does not count either.
  const PUBLIC = 'https://switchboard.example/';
  let pub: Harness;
  before(async () => {
    pub = await startHarness({
      destinations: [{ id: 'app', url: 'http://127.0.0.1:9/unused' }],
      subscribed: [],
      server: { publicUrl: PUBLIC, trustedProxies: ['127.0.0.1'] },
      extraSources: [
        {
          id: 'app-jwt',
          name: 'Signed app',
          environment: 'production',
          clientId: 'jwt-client',
          jwks: { keys: [...keys.values()].map((k) => k.jwk) },
        },
      ],
    });
  });
  after(async () => pub.close());

  const jwtFields = async (aud: string): Promise<Record<string, string>> => ({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion({ aud }),
  });
  const REFUSED = { error: 'invalid_client', error_description: 'Client authentication failed' };

  test('an assertion for the public token URL, or for the public issuer identifier, is accepted', async () => {
    for (const aud of ['https://switchboard.example/v2/auth/token', 'https://switchboard.example']) {
      const res = await rawTokenRequest(pub.url, await jwtFields(aud), {});
      assert.equal(res.status, 200, `${aud}: ${JSON.stringify(res.body)}`);
    }
    for (const aud of ['https://switchboard.example/', 'https://switchboard.example/v2', pub.url]) {
      const res = await rawTokenRequest(pub.url, await jwtFields(aud), {});
      assert.equal(res.status, 401, `${aud} is not an audience of this server`);
    }
  });

  test('the metadata document names the public issuer and its token endpoint', async () => {
    const res = await request(pub.url, 'GET', '/.well-known/oauth-authorization-server');
    assert.equal(res.status, 200);
    assert.equal(res.body.issuer, 'https://switchboard.example');
    assert.equal(res.body.token_endpoint, 'https://switchboard.example/v2/auth/token');
  });

  test("an assertion for another server's token URL is refused, whatever Host says", async () => {
    const spoofedHost = await rawTokenRequest(
      pub.url,
      await jwtFields('http://api.redox.com/v2/auth/token'),
      {
        host: 'api.redox.com',
      },
    );
    assert.equal(spoofedHost.status, 401, JSON.stringify(spoofedHost.body));
    assert.deepEqual(spoofedHost.body, REFUSED);

    const spoofedForward = await rawTokenRequest(
      pub.url,
      await jwtFields('https://api.redox.com/v2/auth/token'),
      { 'x-forwarded-host': 'api.redox.com', 'x-forwarded-proto': 'https' },
    );
    assert.equal(spoofedForward.status, 401, JSON.stringify(spoofedForward.body));
    assert.deepEqual(spoofedForward.body, REFUSED);
  });

  test('the address the server was actually called at is not an audience either', async () => {
    const res = await rawTokenRequest(pub.url, await jwtFields(`${pub.url}/v2/auth/token`), {});
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.deepEqual(res.body, REFUSED);
  });
});

describe('client secrets', () => {
  const bySecret = (fields: Record<string, string>) => tokenRequest(fields);

  test('are stored only as scrypt hashes: the database holds no secret in plain text', async () => {
    const { storage } = h;
    if (storage.kind === 'sqlite') {
      // Start has written the catalog; the store may still hold part of it in the WAL file.
      const file = join(storage.dataDir, 'switchboard.db');
      for (const path of [file, `${file}-wal`, `${file}-journal`].filter((p) => existsSync(p)))
        assert.equal(readFileSync(path).includes(SECRET), false, `${path} holds the secret in plain text`);
    }
    for (const table of await storage.tables()) {
      const rows = JSON.stringify(await storage.rows(`SELECT * FROM "${table}"`));
      assert.equal(rows.includes(SECRET), false, `table ${table} holds the secret in plain text`);
    }
    {
      const stored = await storage.rows<{ client_id: string; secret_hash: string }>(
        'SELECT client_id, secret_hash FROM sources WHERE secret_hash IS NOT NULL ORDER BY client_id',
      );
      assert.deepEqual(
        stored.map((r) => r.client_id),
        ['ehr-client', 'other-client'],
      );
      const salts = new Set<string>();
      for (const row of stored) {
        const match = /^scrypt\$([A-Za-z0-9+/]{22}==)\$([A-Za-z0-9+/]{43}=)$/.exec(String(row.secret_hash));
        assert.ok(match, `${String(row.client_id)}: scrypt$<16-byte salt>$<32-byte hash>`);
        const [, salt, hash] = match;
        assert.equal(
          scryptSync(SECRET, Buffer.from(salt!, 'base64'), 32).toString('base64'),
          hash,
          'the hash is scrypt of the secret with that salt',
        );
        salts.add(salt!);
      }
      assert.equal(salts.size, stored.length, 'each secret has its own salt');
    }
  });

  test('an unknown client and a wrong secret get the same answer', async () => {
    const unknown = await bySecret({ client_id: 'no-such-client', client_secret: 'wrong-secret-000000' });
    const wrong = await bySecret({ client_id: 'ehr-client', client_secret: 'wrong-secret-000000' });
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    assert.deepEqual(unknown.body, wrong.body);
    assert.equal(unknown.headers.get('www-authenticate'), wrong.headers.get('www-authenticate'));

    const legacy = (apiKey: string) =>
      request(h.url, 'POST', '/auth/authenticate', {
        body: JSON.stringify({ apiKey, secret: 'wrong-secret-000000' }),
        headers: { 'content-type': 'application/json' },
      });
    const [legacyUnknown, legacyWrong] = [await legacy('no-such-client'), await legacy('ehr-client')];
    assert.equal(legacyUnknown.status, 401);
    assert.deepEqual(legacyUnknown.body, legacyWrong.body);
  });

  test('an unknown client costs as much time as a wrong secret (a dummy hash is checked)', async (t) => {
    const timed = async (clientId: string): Promise<number> => {
      const start = performance.now();
      const res = await bySecret({ client_id: clientId, client_secret: 'wrong-secret-000000' });
      const ms = performance.now() - start;
      assert.equal(res.status, 401);
      return ms;
    };
    await timed('no-such-client');
    await timed('ehr-client');
    // Interleaved, so both see the same load; medians, so a stall or two changes nothing.
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 8; i++) {
      unknown.push(await timed(`no-such-client-${i}`));
      wrong.push(await timed('ehr-client'));
    }
    const median = (xs: number[]): number => {
      const sorted = [...xs].sort((a, b) => a - b);
      return (sorted[3]! + sorted[4]!) / 2;
    };
    const [u, w] = [median(unknown), median(wrong)];
    t.diagnostic(`median ms: unknown client ${u.toFixed(1)}, wrong secret ${w.toFixed(1)}`);
    // scrypt costs tens of ms and the rest of the request about one: without the dummy hash an
    // unknown client is answered many times faster.
    assert.ok(u >= 0.5 * w, `unknown client ${u.toFixed(1)} ms vs wrong secret ${w.toFixed(1)} ms`);
  });
});

describe('the older key/secret flow', () => {
  const legacy = (path: string, body: unknown) =>
    request(h.url, 'POST', path, {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  test('authenticate, use, refresh; a used refresh token is dead, and so is its family', async () => {
    const first = await legacy('/auth/authenticate', { apiKey: 'ehr-client', secret: SECRET });
    assert.equal(first.status, 200);
    const expires = Date.parse(first.body.expires) - h.clock.now();
    assert.ok(Math.abs(expires - 24 * 3_600_000) < 5_000, 'access token lives 24 h');
    assert.equal(await canSend(first.body.accessToken), 200);

    const refreshed = await legacy('/auth/refreshToken', {
      apiKey: 'ehr-client',
      refreshToken: first.body.refreshToken,
    });
    assert.equal(refreshed.status, 200);
    assert.notEqual(refreshed.body.refreshToken, first.body.refreshToken);
    assert.equal(await canSend(refreshed.body.accessToken), 200);

    const reused = await legacy('/auth/refreshToken', {
      apiKey: 'ehr-client',
      refreshToken: first.body.refreshToken,
    });
    assert.equal(reused.status, 400, 'RFC 6749 5.2: invalid_grant is 400');
    assert.equal(reused.body.error, 'invalid_grant');
    assert.match(reused.body.error_description, /already used/);
    // Two parties held the first token (RFC 9700 4.14.2): the one rotated from it is revoked too,
    // whoever holds it now.
    const next = await legacy('/auth/refreshToken', {
      apiKey: 'ehr-client',
      refreshToken: refreshed.body.refreshToken,
    });
    assert.equal(next.status, 400, 'the family of a reused refresh token is revoked');
    assert.equal(next.body.error, 'invalid_grant');
    assert.equal(await canSend(refreshed.body.accessToken), 200, 'access tokens run out on their own');

    // Another sign-in of the same client is another family: it rotates as before.
    const other = await legacy('/auth/authenticate', { apiKey: 'ehr-client', secret: SECRET });
    const rotated = await legacy('/auth/refreshToken', {
      apiKey: 'ehr-client',
      refreshToken: other.body.refreshToken,
    });
    assert.equal(rotated.status, 200);
    const again = await legacy('/auth/refreshToken', {
      apiKey: 'ehr-client',
      refreshToken: rotated.body.refreshToken,
    });
    assert.equal(again.status, 200, 'a rotated refresh token works once, in a family not revoked');
  });

  test('tokens are not interchangeable, and bad credentials are refused', async () => {
    const first = await legacy('/auth/authenticate', { apiKey: 'ehr-client', secret: SECRET });
    assert.equal(await canSend(first.body.refreshToken), 401, 'a refresh token is not an access token');
    const asRefresh = await legacy('/auth/refreshToken', {
      apiKey: 'ehr-client',
      refreshToken: first.body.accessToken,
    });
    const invalidGrant = {
      error: 'invalid_grant',
      error_description: 'Refresh token is invalid, expired or revoked',
    };
    assert.equal(asRefresh.status, 400, 'an access token is not a refresh token');
    assert.deepEqual(asRefresh.body, invalidGrant);
    const otherKey = await legacy('/auth/refreshToken', {
      apiKey: 'jwt-client',
      refreshToken: first.body.refreshToken,
    });
    assert.equal(otherKey.status, 400);
    assert.deepEqual(otherKey.body, invalidGrant);
    const forged = await legacy('/auth/refreshToken', { apiKey: 'ehr-client', refreshToken: 'a.b.c' });
    assert.equal(forged.status, 400);
    assert.deepEqual(forged.body, invalidGrant);
    assert.equal(
      (await legacy('/auth/authenticate', { apiKey: 'ehr-client', secret: 'wrong-secret-000000' })).status,
      401,
    );
    assert.equal((await legacy('/auth/authenticate', { apiKey: 'ehr-client' })).status, 400);
  });
});

describe('revocation', () => {
  test('rotating the secret or disabling the source revokes its tokens', async () => {
    await withStorage(async (storage) => {
      const before = await firstRunToken(storage);
      const rotated = 'a-new-secret-0123456789';
      let server = await startHarness({ destinations: UNUSED, storage, ehr: { clientSecret: rotated } });
      assert.equal(
        (await server.send(patientAdmin(1), { token: before })).status,
        401,
        'old secret, old tokens',
      );
      const old = await tokenRequest({ client_id: 'ehr-client', client_secret: SECRET }, server.url);
      assert.equal(old.status, 401);
      const fresh = await tokenRequest({ client_id: 'ehr-client', client_secret: rotated }, server.url);
      assert.equal(fresh.status, 200);
      await server.close();

      server = await startHarness({
        destinations: UNUSED,
        storage,
        ehr: { clientSecret: rotated, disabled: true },
      });
      assert.equal((await server.send(patientAdmin(1), { token: fresh.body.access_token })).status, 401);
      const refused = await tokenRequest({ client_id: 'ehr-client', client_secret: rotated }, server.url);
      assert.equal(refused.status, 401);
      await server.close();
    });
  });

  test("a token is bound to its source's environment: changing it revokes earlier tokens", async () => {
    await withStorage(async (storage) => {
      const production = await firstRunToken(storage);
      // Same secret and keys, same token key in the store: only the environment differs.
      const server = await startHarness({ destinations: UNUSED, storage, ehr: { environment: 'staging' } });
      try {
        const res = await server.send(patientAdmin(2), { token: production });
        assert.equal(res.status, 401, 'a production token is not a staging token');
        const staging = await server.token();
        assert.notEqual(staging, production);
        assert.notEqual(
          (await server.send(patientAdmin(3), { token: staging })).status,
          401,
          'a token issued for the new environment is accepted',
        );
      } finally {
        await server.close();
      }
    });
  });

  test('tokens expire after an hour', async () => {
    const res = await withAssertion(await assertion());
    assert.equal(await canSend(res.body.access_token), 200);
    h.clock.advance(3_600_000 + 1_000);
    assert.equal(await canSend(res.body.access_token), 401);
  });
});
