import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Retention through the running server: on its schedule (driven by the manual clock), logs that
 * are done and older than `retention.logsMs` are deleted with their attempts; a log still
 * pending is kept, however old, with the payload it has to deliver.
 */

const DAY = 24 * 3_600_000;
const HOUR = 3_600_000;
let h: Harness;
let receiver: Receiver;

/** A port nothing listens on: deliveries there fail with a refused connection. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  receiver = await Receiver.start();
  h = await startHarness({
    destinations: [
      { id: 'app', url: receiver.url },
      { id: 'down', url: `http://127.0.0.1:${await deadPort()}/redox` },
    ],
    retention: { logsMs: DAY, intervalMs: HOUR },
  });
});

after(async () => {
  await h.close();
  await receiver.close();
});

const status = async (logId: string): Promise<number> =>
  (await h.platform('GET', `/platform/v1/logs/${logId}`)).status;

test('done logs older than logsMs are purged on schedule; a pending log is kept, however old', async () => {
  const payload = patientAdmin(1);
  const sent = await h.send(payload);
  assert.equal(sent.status, 200);
  const [delivered, pending] = sent.body.Meta.Logs.map((l: { ID: string }) => l.ID) as [string, string];
  await waitFor(
    async () => (await h.platform('GET', `/platform/v1/logs/${delivered}`)).body.status === 'succeeded',
    5_000,
    'the delivery to app to be recorded',
  );

  // A purge runs every hour; before the log is a day old, it stays.
  h.clock.advance(HOUR + 1);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(await status(delivered), 200, 'not yet a day old');

  h.clock.advance(DAY);
  await waitFor(async () => (await status(delivered)) === 404, 5_000, 'the delivered log to be purged');

  const kept = await h.platform('GET', `/platform/v1/logs/${pending}`);
  assert.equal(kept.status, 200);
  assert.equal(kept.body.status, 'pending', 'a log still to be delivered is never purged');
  assert.deepEqual(kept.body.payload, payload);
  const search = await h.platform('GET', '/platform/v1/logs');
  assert.deepEqual(
    search.body.logs.map((l: { id: string }) => l.id),
    [pending],
  );
});
