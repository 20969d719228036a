import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { patientAdmin, SECRET, startHarness, type Harness } from '../helpers/harness.ts';

/**
 * A standard OAuth client library, oauth4webapi, used as its documentation shows, against
 * Switchboard's token endpoint: discovery (RFC 8414), client_secret_post, client_secret_basic,
 * private_key_jwt with ES256 and RS256 (its assertions name the issuer as `aud`), and a wrong
 * secret reaching the app as `invalid_client`. The options set are `allowInsecureRequests` (the
 * test server speaks plain HTTP on loopback) and RFC 8414 discovery rather than OpenID's.
 */

const insecure = { [oauth.allowInsecureRequests]: true };
let h: Harness;
let as: oauth.AuthorizationServer;
const signing = new Map<string, oauth.CryptoKey>();

before(async () => {
  const jwks = [];
  for (const alg of ['ES256', 'RS256']) {
    const { privateKey, publicKey } = await generateKeyPair(alg);
    signing.set(alg, privateKey);
    jwks.push({ ...(await exportJWK(publicKey)), alg, kid: `key-${alg}` });
  }
  h = await startHarness({
    destinations: [{ id: 'app', url: 'http://127.0.0.1:9/unused' }],
    subscribed: [],
    extraSources: [
      {
        id: 'signed',
        name: 'Signed app',
        environment: 'production',
        clientId: 'jwt-client',
        jwks: { keys: jwks },
      },
    ],
  });
  const issuer = new URL(h.url);
  // RFC 8414 discovery (the library's default looks for an OpenID Provider, which this is not).
  const discovered = await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' });
  as = await oauth.processDiscoveryResponse(issuer, discovered);
});

after(async () => {
  await h.close();
});

/** A client credentials grant as the library makes it; the token works on `/endpoint`. */
async function grant(clientId: string, auth: oauth.ClientAuth): Promise<oauth.TokenEndpointResponse> {
  const client: oauth.Client = { client_id: clientId };
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    auth,
    new URLSearchParams(),
    insecure,
  );
  return oauth.processClientCredentialsResponse(as, client, response);
}

test('discovery: the metadata names the issuer, the token endpoint and what it accepts', () => {
  assert.equal(as.issuer, new URL(h.url).href.replace(/\/$/, ''));
  assert.equal(as.token_endpoint, `${h.url}/v2/auth/token`);
  assert.deepEqual(as.token_endpoint_auth_methods_supported, [
    'client_secret_basic',
    'client_secret_post',
    'private_key_jwt',
  ]);
  assert.deepEqual(as.grant_types_supported, ['client_credentials']);
});

for (const [name, auth] of [
  ['client_secret_post', oauth.ClientSecretPost(SECRET)],
  ['client_secret_basic', oauth.ClientSecretBasic(SECRET)],
] as const)
  test(`${name}: a token the Data Model API accepts`, async () => {
    const token = await grant('ehr-client', auth);
    assert.equal(token.token_type, 'bearer');
    assert.equal(token.expires_in, 3600);
    assert.equal((await h.send(patientAdmin(1), { token: token.access_token })).status, 200);
  });

for (const alg of ['ES256', 'RS256'])
  test(`private_key_jwt with ${alg}: the library's assertion (aud = issuer) is accepted`, async () => {
    const token = await grant(
      'jwt-client',
      oauth.PrivateKeyJwt({ key: signing.get(alg)!, kid: `key-${alg}` }),
    );
    assert.ok(token.access_token);
    assert.notEqual((await h.send(patientAdmin(2), { token: token.access_token })).status, 401);
  });

test('a wrong secret reaches the app as invalid_client, whichever way it was sent', async () => {
  await assert.rejects(grant('ehr-client', oauth.ClientSecretPost('wrong-secret-0123456789')), (error) => {
    assert.ok(error instanceof oauth.ResponseBodyError, String(error));
    assert.equal(error.error, 'invalid_client');
    assert.equal(error.status, 401);
    return true;
  });
  // With HTTP Basic the 401 carries the challenge RFC 6749 asks for; the body still says why.
  await assert.rejects(grant('ehr-client', oauth.ClientSecretBasic('wrong-secret-0123456789')), (error) => {
    assert.ok(error instanceof oauth.WWWAuthenticateChallengeError, String(error));
    assert.equal(error.cause[0]?.scheme, 'basic');
    return true;
  });
});
