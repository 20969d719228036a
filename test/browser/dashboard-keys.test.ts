import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, watchedPage } from '../helpers/browser.ts';
import { PLATFORM_KEY, patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Ordering keys in the dashboard, in chromium: a keyed destination whose one patient keeps
 * failing shows that key as blocked (depth, head, last error) while the others flow, and Skip
 * on that key fails its head and lets its next log through.
 */

let h: Harness;
let receiver: Receiver;
let browser: Browser;
let watched: Awaited<ReturnType<typeof watchedPage>>;
let page: Page;
let poison: string | undefined;

before(async () => {
  receiver = await Receiver.start();
  receiver.respond = (r) => (String(r.headers['x-switchboard-log-id']) === poison ? 500 : 200);
  h = await startHarness({
    destinations: [
      { id: 'adt', url: receiver.url, orderingKey: '$.Patient.Identifiers[0].ID', maxInFlight: 4 },
    ],
  });
  browser = await launchBrowser();
  watched = await watchedPage(browser);
  page = watched.page;
});

after(async () => {
  await watched?.close();
  await browser?.close();
  await h?.close();
  await receiver?.close();
});

test('a blocked ordering key is listed on the queues page and skipped by key; the other keys flow', async () => {
  const first = await h.send(patientAdmin(13));
  poison = first.body.Meta.Logs[0].ID as string;
  const next = (await h.send(patientAdmin(13, { EventType: 'PatientUpdate' }))).body.Meta.Logs[0]
    .ID as string;
  for (let i = 0; i < 5; i++) await h.send(patientAdmin(i));
  await waitFor(() => receiver.logIds().length === 6, 5_000, 'the other keys and the first attempt');
  await h.settled();

  await page.goto(`${h.url}/dashboard/sign-in`);
  await page.getByLabel('Platform API key').fill(PLATFORM_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  await page.goto(`${h.url}/dashboard/queues`);
  const row = page.locator('#queue-adt');
  await row.getByText('blocked').waitFor();
  const keys = page.locator('tr.blocked-keys');
  await keys.getByText('1 blocked ordering key').waitFor();
  assert.match(await keys.innerText(), /MRN-13/);
  assert.match(await keys.innerText(), /HTTP 500/);
  await keys.getByRole('button', { name: /^Skip the head log of key MRN-13 of / }).click();
  await page.getByText('Skipped').waitFor();
  assert.equal((await h.platform('GET', `/platform/v1/logs/${poison}`)).body.status, 'failed');
  await waitFor(() => receiver.logIds().includes(next), 5_000, "the key's next log delivered");
  await page.locator('#queue-adt').getByText('active').waitFor({ timeout: 8_000 });
  assert.equal(await page.locator('tr.blocked-keys').count(), 0);
});

test('no request left the server and no console error was logged', () => {
  const origin = new URL(h.url).origin;
  assert.deepEqual(
    watched.requests.filter((url) => !url.startsWith(origin)),
    [],
  );
  assert.deepEqual(watched.errors, []);
});
