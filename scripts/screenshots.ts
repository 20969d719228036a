/**
 * `npm run screenshots`: starts Switchboard on a throw-away embedded store with a little traffic
 * (one delivered log, one blocked queue), signs in in Debian's chromium and writes PNGs of the
 * main dashboard pages to docs/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser } from '../test/helpers/browser.ts';
import { PLATFORM_KEY, patientAdmin, startHarness } from '../test/helpers/harness.ts';
import { Receiver } from '../test/helpers/receiver.ts';
import { waitFor } from '../test/helpers/wait.ts';

const out = join(import.meta.dirname, '..', 'docs', 'screenshots');
mkdirSync(out, { recursive: true });
const receiver = await Receiver.start();
const failing = await Receiver.start();
failing.respond = () => ({ status: 503, body: '{"error":"maintenance"}' });
const h = await startHarness({
  destinations: [
    { id: 'app', url: receiver.url },
    { id: 'lab', url: failing.url },
  ],
});
const browser = await launchBrowser();
try {
  for (let n = 1; n <= 4; n++)
    await h.send({ ...patientAdmin(n), Patient: { Identifiers: [{ ID: `MRN-00${n}`, IDType: 'MR' }] } });
  await waitFor(() => receiver.received.length === 4, 10_000, 'deliveries');
  await waitFor(
    async () => (await h.platform('GET', '/platform/v1/destinations/lab/queue')).body.state === 'blocked',
    10_000,
    'blocked',
  );
  const logs = await h.platform('GET', '/platform/v1/logs?destinationId=lab&limit=1');
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await page.goto(`${h.url}/dashboard/sign-in`);
  await page.getByLabel('Platform API key').fill(PLATFORM_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  const shots: [string, string][] = [
    ['logs', '/dashboard/logs'],
    ['log-detail', `/dashboard/logs/${logs.body.logs[0].id as string}`],
    ['queues', '/dashboard/queues'],
    ['configuration', '/dashboard/config'],
  ];
  for (const [name, path] of shots) {
    await page.goto(h.url + path);
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`docs/screenshots/${name}.png`);
  }
} finally {
  await browser.close();
  await h.close();
  await receiver.close();
  await failing.close();
}
