import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  attemptsRecorded,
  OTHER_PLATFORM_KEY,
  patientAdmin,
  startHarness,
  type Environment,
  type Harness,
} from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { SmtpSink } from '../helpers/smtp-sink.ts';
import { waitFor } from '../helpers/wait.ts';

let h: Harness | undefined;
let receiver: Receiver | undefined;
let hook: Receiver | undefined;
let smtp: SmtpSink | undefined;

afterEach(async () => {
  await h?.close();
  await Promise.all([receiver?.close(), hook?.close(), smtp?.close()]);
  h = receiver = hook = smtp = undefined;
});

/** A destination that fails patient MRN-2 `failures` times; alerts go to a real SMTP server and a webhook. */
async function setup(environment: Environment, failures: number): Promise<Harness> {
  receiver = await Receiver.start();
  hook = await Receiver.start();
  smtp = await SmtpSink.start();
  let failed = 0;
  receiver.respond = (request) => {
    if (request.body.includes('"MRN-2"') && failed < failures) {
      failed++;
      return { status: 503, body: '{"error":"busy"}' };
    }
    return 200;
  };
  h = await startHarness({
    destinations: [{ id: 'app', url: receiver.url, environment }],
    acme: { alertEmail: 'ops@acme.example', alertWebhooks: [`${hook.url}/services/T000/B000/secret`] },
    alerts: { smtpUrl: smtp.url, from: 'Switchboard <alerts@switchboard.test>' },
  });
  return h;
}

const idle = (h: Harness): Promise<void> => h.server.alerts.idle();

test('production: an alert on the 3rd failed attempt, none on later ones, and one on recovery', async () => {
  const h = await setup('production', 5);
  const logIds: string[] = [];
  for (let n = 1; n <= 3; n++) {
    const res = await h.send(patientAdmin(n));
    assert.equal(res.status, 200);
    logIds.push(res.body.Meta.Logs[0].ID as string);
  }
  const failingLog = logIds[1]!;

  // Attempts 1 and 2 (at once) fail: no alert yet.
  await waitFor(() => receiver!.received.length === 3, 5_000, 'MRN-1 and two attempts of MRN-2');
  await h.settled();
  assert.equal(smtp!.mails.length, 0, 'no alert before the 3rd failed attempt');
  assert.equal(hook!.received.length, 0);

  // Attempt 3, after 10 s, fails: one alert by email and by webhook.
  await attemptsRecorded(h, 2);
  h.clock.advance(10_000);
  await waitFor(() => smtp!.mails.length === 1 && hook!.received.length === 1, 5_000, 'failing alert');
  const mail = smtp!.mails[0]!;
  assert.deepEqual(mail.to, ['ops@acme.example']);
  assert.equal(mail.from, 'alerts@switchboard.test');
  assert.equal(mail.subject, '[Switchboard] Deliveries to Acme Health / Destination app are failing');
  assert.match(mail.text, new RegExp(`Log ${failingLog} to destination "app" has failed 3 attempts`));
  assert.match(mail.text, /503/);
  const posted = hook!.received[0]!;
  assert.equal(posted.headers['content-type'], 'application/json');
  assert.match(String(posted.json.text), /failing/);
  assert.equal((posted.json.alert as { kind: string }).kind, 'failing');
  assert.equal((posted.json.alert as { logId: string }).logId, failingLog);

  // Attempts 4 (10 s) and 5 (20 s) fail: the queue already has its alert, none more.
  await attemptsRecorded(h, 3);
  h.clock.advance(10_000);
  await waitFor(() => receiver!.received.length === 5, 5_000, 'attempt 4');
  await attemptsRecorded(h, 4);
  h.clock.advance(20_000);
  await waitFor(() => receiver!.received.length === 6, 5_000, 'attempt 5');
  await h.settled();
  assert.equal(smtp!.mails.length, 1, 'alerts are not repeated on every attempt');
  assert.equal(hook!.received.length, 1);

  // Attempt 6 (30 s) goes through: one recovery alert; MRN-3 follows without another.
  await attemptsRecorded(h, 5);
  h.clock.advance(30_000);
  await waitFor(() => smtp!.mails.length === 2 && hook!.received.length === 2, 5_000, 'recovery alert');
  await waitFor(() => receiver!.received.length === 8, 5_000, 'the rest of the queue');
  await h.settled();
  assert.match(smtp!.mails[1]!.subject, /have recovered/);
  assert.equal((hook!.received[1]!.json.alert as { kind: string }).kind, 'recovered');
  assert.equal(smtp!.mails.length, 2, 'a success on a healthy queue raises nothing');

  const alerts = await h.platform('GET', '/platform/v1/alerts');
  assert.equal(alerts.status, 200);
  assert.deepEqual(
    alerts.body.alerts.map((a: { kind: string }) => a.kind),
    ['recovered', 'failing'],
    'newest first',
  );
  const [recovered, failing] = alerts.body.alerts;
  assert.equal(failing.logId, failingLog);
  assert.equal(failing.destinationId, 'app');
  assert.equal(failing.attempts, 3);
  assert.match(failing.error, /503/);
  assert.equal(recovered.attempts, 6);
  assert.ok(failing.sentAt && recovered.sentAt);
  assert.deepEqual(
    failing.channels.map((c: { channel: string; ok: boolean }) => [c.channel, c.ok]),
    [
      ['email', true],
      ['webhook', true],
    ],
  );
  const webhook = failing.channels.find((c: { channel: string }) => c.channel === 'webhook');
  assert.doesNotMatch(webhook.target, /secret/, 'the webhook URL secret is not shown');

  const others = await h.platform('GET', '/platform/v1/alerts', undefined, OTHER_PLATFORM_KEY);
  assert.deepEqual(others.body.alerts, [], "another organization sees none of acme's alerts");
});

test('staging: one retry and the log fails, without an alert', async () => {
  const h = await setup('staging', 5);
  await h.send(patientAdmin(2));
  await waitFor(() => receiver!.received.length === 1, 5_000, 'first attempt');
  await attemptsRecorded(h, 1);
  h.clock.advance(5_000);
  await waitFor(
    async () => (await h.platform('GET', '/platform/v1/logs?status=failed')).body.logs.length === 1,
  );
  await idle(h);
  assert.equal(smtp!.mails.length, 0);
  assert.deepEqual((await h.platform('GET', '/platform/v1/alerts')).body.alerts, []);
});

test('a channel that refuses the alert is recorded; delivery is not held up', async () => {
  const h = await setup('production', 3);
  smtp!.rejectWith = 550;
  hook!.respond = () => 500;
  await h.send(patientAdmin(2));
  await h.send(patientAdmin(3));
  await waitFor(() => receiver!.received.length === 2, 5_000, 'two attempts');
  await attemptsRecorded(h, 2);
  h.clock.advance(10_000);
  await waitFor(() => receiver!.received.length === 3, 5_000, 'attempt 3');
  await attemptsRecorded(h, 3);
  h.clock.advance(10_000);
  await waitFor(() => receiver!.received.length === 5, 5_000, 'attempt 4 succeeds, MRN-3 follows');
  await idle(h);
  const alerts = (await h.platform('GET', '/platform/v1/alerts')).body.alerts;
  assert.equal(alerts.length, 2);
  const failing = alerts.find((a: { kind: string }) => a.kind === 'failing');
  const email = failing.channels.find((c: { channel: string }) => c.channel === 'email');
  const webhook = failing.channels.find((c: { channel: string }) => c.channel === 'webhook');
  assert.equal(email.ok, false);
  assert.match(email.error, /550/);
  assert.equal(webhook.ok, false);
  assert.equal(webhook.error, 'HTTP 500');
});

test('alerts list: cursor paging and a bad parameter is a clear 400', async () => {
  const h = await setup('production', 0);
  const bad = await h.platform('GET', '/platform/v1/alerts?limit=0');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /limit/);
  const unknown = await h.platform('GET', '/platform/v1/alerts?bogus=1');
  assert.equal(unknown.status, 400);
  const empty = await h.platform('GET', '/platform/v1/alerts?limit=1');
  assert.deepEqual(empty.body, { alerts: [], nextCursor: null });
});
