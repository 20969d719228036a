import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import {
  BATCHES,
  breaks,
  breakRule,
  CONCURRENCY,
  credentials,
  expected,
  FAST_INPUTS,
  HEADERS_TIMEOUT_MS,
  INPUTS,
  type Input,
  knownLogs,
  MARK,
  REQUEST_TIMEOUT_MS,
  rngFor,
  run,
  SEED,
  seededLogs,
  statusCounts,
  stored,
  unanswered,
} from '../helpers/fuzz/context.ts';
import { buildFetch, sweep } from '../helpers/fuzz/inputs.ts';
import { buildRaw } from '../helpers/fuzz/raw.ts';
import { ROUTES } from '../helpers/fuzz/routes.ts';
import { account } from '../helpers/fuzz/rules.ts';
import { sendFetch, sendRaw, slowClients } from '../helpers/fuzz/send.ts';
import { verifyBatch, rememberPrototypes } from '../helpers/fuzz/verify.ts';
import { json } from '../helpers/fuzz/values.ts';
import { OTHER_PLATFORM_KEY, PLATFORM_KEY, SECRET, startHarness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';

/**
 * A bounded, seeded fuzz of every inbound route (SPEC 2, 6; docs/errors.md; docs/gateway.md
 * "Hostile input" and "Limits"). 2,000 hostile inputs (FUZZ_INPUTS=<n> runs more: the chaos
 * suite's fuzz scenario runs 10,000), each rebuilt from the seed and its index alone
 * (FUZZ_SEED=<n> runs another set): JSON of random shapes, 10,000-level nesting, multi-MB
 * bodies, wrong types in every Meta field, invalid UTF-8, `__proto__` / `constructor` /
 * `prototype` keys at the top and inside Meta, wrong and missing content types, odd methods, long
 * URLs, path traversal and percent-encoding in IDs, with valid credentials of either organization
 * and without. Most inputs change one thing of a valid request, some change everything.
 * Well-formed requests go through `fetch`; malformed HTTP (bad framing, truncated bodies, flipped
 * bytes, pipelining, header overflow) and slow clients (headers byte by byte, trickled bodies)
 * through raw `node:net` sockets, against short header and request timeouts.
 *
 * Every answer must: have a status documented for its API (never a 5xx: storage is up and every
 * destination answers); have that API's documented body (Redox `Meta.Errors`, RFC 6749 on the
 * token endpoints, `OperationOutcome` on FHIR, `{"error": {code, message}}` on the Platform API),
 * with the catalogue's status for its error ID or code; carry the security headers; hold no stack
 * trace, internal path, or anything of the other organization. Malformed HTTP that never reaches
 * a route may be refused at the connection level: 400, 408 or 431 with the headers and no body.
 * After every batch: `/healthz` and `/readyz` answer 200, the built-in prototypes of this
 * process (the server runs in it) are untouched, and the store holds exactly what the 200s
 * promised: each accepted message with all its logs, nothing for a refusal, no message without
 * logs. The generator, the rules and the checks are in test/helpers/fuzz/.
 */

let receiver: Receiver | undefined;

before(async () => {
  rememberPrototypes();
  receiver = await Receiver.start();
  const fhirBaseUrl = receiver.url.replace(/\/redox$/, '/fhir');
  const h = (run.harness = await startHarness({
    destinations: [
      { id: 'app', url: receiver.url, fhirBaseUrl },
      { id: 'app2', url: receiver.url },
    ],
    subscribed: ['app', 'app2'],
    extraSubscriptions: [{ dataModel: 'PatientSearch', destination: 'app' }],
    other: { destinations: [{ id: 'private', url: receiver.url, fhirBaseUrl }], subscribed: ['private'] },
    server: {
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      rateLimit: 10_000_000,
    },
  }));
  const acme = await h.token('ehr-client');
  const other = await h.token('other-client');
  const forged = await new SignJWT({ org: 'acme', env: 'production', use: 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('switchboard')
    .setAudience('switchboard-api')
    .setSubject('ehr')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(createSecretKey(randomBytes(32)));
  credentials.set('source', { header: `Bearer ${acme}`, org: 'acme' });
  credentials.set('otherSource', { header: `Bearer ${other}`, org: 'other' });
  credentials.set('platform', { header: `Bearer ${PLATFORM_KEY}`, org: 'acme' });
  credentials.set('otherPlatform', { header: `Bearer ${OTHER_PLATFORM_KEY}`, org: 'other' });
  // Valid credentials of acme's, but of the other kind for most routes.
  credentials.set('basic', {
    header: `Basic ${Buffer.from(`ehr-client:${SECRET}`).toString('base64')}`,
    org: 'acme',
  });
  credentials.set('swapSource', { header: `Bearer ${PLATFORM_KEY}`, org: 'acme' });
  credentials.set('swapPlatform', { header: `Bearer ${acme}`, org: 'acme' });
  // Invalid ones.
  credentials.set('none', {});
  credentials.set('forged', { header: `Bearer ${forged}` });
  credentials.set('tampered', { header: `Bearer ${acme.slice(0, -4)}AAAA` });
  credentials.set('garbage', { header: 'Bearer not-a-token' });
  credentials.set('empty', { header: 'Bearer ' });
  credentials.set('long', { header: `Bearer ${'A'.repeat(6000)}` });
  credentials.set('noScheme', { header: acme });
  const legacy = await fetch(`${h.url}/auth/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: 'ehr-client', secret: SECRET }),
  });
  run.refreshToken = ((await legacy.json()) as { refreshToken: string }).refreshToken;
  // A few messages of each organization, so that paths can name real logs.
  for (const [org, name] of [
    ['acme', 'source'],
    ['other', 'otherSource'],
  ] as const)
    for (let i = 0; i < 3; i++) {
      const body = {
        Meta: { DataModel: 'PatientAdmin', EventType: 'NewPatient' },
        Patient: { Identifiers: [{ ID: 'MRN-FUZZ', IDType: 'MR' }] },
        P: `${MARK[org]}-SEED-${i}`,
      };
      const res = await fetch(`${h.url}/endpoint`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: credentials.get(name)!.header! },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 200);
      account({ org, family: 'dm', path: '/endpoint', method: 'POST' }, res.status, null, await res.text());
    }
  seededLogs.acme = [...knownLogs.acme];
  seededLogs.other = [...knownLogs.other];
});

after(async () => {
  await run.harness?.close();
  await receiver?.close();
});

// ---------------------------------------------------------------------------------------------

test(`fuzz: ${INPUTS.toLocaleString('en-US')} hostile inputs over every inbound route break no rule`, async (t) => {
  const began = performance.now();
  const swept = sweep();
  const slow = slowClients();
  const perBatch = Math.ceil(FAST_INPUTS / BATCHES);
  for (let b = 0; b < BATCHES; b++) {
    const first = b * perBatch;
    const last = Math.min(FAST_INPUTS, first + perBatch) - 1;
    let next = first;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next <= last) {
          const index = next++;
          let input: Input | undefined;
          try {
            // Every 8th input is malformed HTTP on a raw socket, the others go through fetch;
            // each kind starts with its sweep.
            const raws = Math.floor((index + 1) / 8);
            input =
              index % 8 === 7
                ? buildRaw(index, rngFor(index), raws - 1)
                : (swept[index - raws]?.(index) ?? buildFetch(index, rngFor(index)));
            await (input.kind === 'raw' ? sendRaw(input) : sendFetch(input));
          } catch (error) {
            breakRule(
              input ?? `#${index} of FUZZ_SEED=${SEED}`,
              `the test could not build or send it: ${(error as Error).stack}`,
            );
          }
        }
      }),
    );
    await verifyBatch(`after batch ${b + 1} (inputs #${first}-#${last} of FUZZ_SEED=${SEED})`);
  }
  const slowOutcomes = await slow;
  await verifyBatch(`after the slow clients (FUZZ_SEED=${SEED})`);

  const total = FAST_INPUTS + slowOutcomes.length;
  const broken = new Set(breaks.map((b) => b.input)).size;
  t.diagnostic(
    `seed ${SEED}, ${((performance.now() - began) / 1000).toFixed(1)} s; stored ` +
      `${expected.acme.messages + expected.other.messages} messages with ${expected.acme.logs + expected.other.logs} logs`,
  );
  t.diagnostic(
    `answers: ${[...statusCounts]
      .sort()
      .map(([k, v]) => `${k} x${v}`)
      .join(', ')}`,
  );
  const raws = Math.floor(FAST_INPUTS / 8);
  t.diagnostic(
    `inputs: ${swept.length} from the sweep and ${FAST_INPUTS - raws - swept.length} random through fetch, ` +
      `${raws} on raw sockets (malformed, truncated, flipped), ${slowOutcomes.length} slow clients`,
  );
  for (const outcome of slowOutcomes) t.diagnostic(`slow client: ${outcome}`);
  t.diagnostic(`fuzz: ${total} hostile inputs tried over ${ROUTES.length} routes, ${broken} broke a rule`);
  // One line for npm run chaos (chaos/fuzz.ts) to read: answers by status, and the store.
  const byStatus = new Map<number, number>();
  for (const [key, count] of statusCounts) {
    const status = Number(key.split(' ')[1]);
    byStatus.set(status, (byStatus.get(status) ?? 0) + count);
  }
  const summary = {
    seed: SEED,
    inputs: total,
    seconds: Number(((performance.now() - began) / 1000).toFixed(1)),
    answers: Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)),
    fiveHundreds: [...byStatus].filter(([status]) => status >= 500).reduce((sum, [, n]) => sum + n, 0),
    hangs: run.hangs,
    broke: broken,
    acknowledged: {
      messages: expected.acme.messages + expected.other.messages,
      logs: expected.acme.logs + expected.other.logs,
    },
    stored,
    /** Requests whose answer never arrived, which the store may hold beyond the acknowledged. */
    unanswered: unanswered.acme + unanswered.other,
  };
  t.diagnostic(`fuzz summary ${JSON.stringify(summary)}`);
  for (const b of breaks.slice(0, 30))
    t.diagnostic(`BROKE: ${b.rule}\n    input: ${b.input}\n    answer: ${json(b.answer)}`);
  assert.equal(
    breaks.length,
    0,
    `${broken} inputs broke a rule; the first: ${breaks[0]?.rule} <- ${breaks[0]?.input}`,
  );
});
