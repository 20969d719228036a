import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, watchedPage } from '../helpers/browser.ts';
import { patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The dashboard's other half in chromium: the admin key (switching and creating
 * organizations), bulk retry with its count first, the configuration's secrets shown once, a
 * refused delete explained, Verify, a revoked key ending its session, and the keyboard.
 */

const ADMIN_KEY = 'admin-key-for-the-dashboard-0123';
let h: Harness;
let receiver: Receiver;
let browser: Browser;
let watched: Awaited<ReturnType<typeof watchedPage>>;
let page: Page;

before(async () => {
  receiver = await Receiver.start();
  receiver.respond = (r) =>
    r.json.challenge ? { status: 200, body: JSON.stringify({ challenge: r.json.challenge }) } : 200;
  h = await startHarness({
    destinations: [{ id: 'app', url: receiver.url }],
    server: { adminKey: ADMIN_KEY },
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

const go = (path: string) => page.goto(h.url + path);
async function signIn(key: string): Promise<void> {
  await go('/dashboard/sign-in');
  // By keyboard: the key field, Enter submits.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'key');
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
}

test('the admin key switches organization and creates one, whose first key is shown once and signs in', async () => {
  await signIn(ADMIN_KEY);
  await page.getByLabel('Organization').selectOption('other');
  await page.getByRole('button', { name: 'Switch' }).click();
  await waitFor(
    async () => (await page.getByLabel('Organization').inputValue()) === 'other',
    5_000,
    'switched',
  );
  await go('/dashboard/config');
  await page.locator('#neworg-id').fill('gamma');
  await page.locator('#neworg-name').fill('Gamma Clinic');
  await page.getByRole('button', { name: 'Create organization' }).click();
  const key = (await page.locator('output.secret').innerText()).trim();
  assert.match(key, /^sbk_/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(key);
  assert.match(await page.locator('header').innerText(), /Gamma Clinic/);
  assert.equal(await page.getByLabel('Organization').count(), 0, 'a platform key has no switcher');
  await page.getByRole('button', { name: 'Sign out' }).click();
});

test('bulk retry from a search: the count first, then the result', async () => {
  for (let n = 0; n < 3; n++)
    await h.send({ ...patientAdmin(n), Patient: { Identifiers: [{ ID: `BULK-${n}`, IDType: 'MR' }] } });
  await waitFor(() => receiver.received.length >= 3, 5_000, 'delivered');
  await signIn(ADMIN_KEY);
  await page.getByLabel('Patient identifier').fill('BULK-');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: 'Retry every log of this search…' }).click();
  await page.getByRole('heading', { name: 'Retry 3 logs?' }).waitFor();
  await page.getByRole('button', { name: 'Retry 3 logs' }).click();
  await page.getByText('3 logs retried.').waitFor();
  await waitFor(() => receiver.received.length >= 6, 5_000, 'the copies delivered');
});

test('configuration: a source secret shown once and rotated; Verify; a refused delete explained, then forced', async () => {
  await go('/dashboard/config');
  await page.getByText('Create a source').click();
  await page.locator('#src-id').fill('feed');
  await page.locator('#src-name').fill('ADT feed');
  await page.locator('#src-clientId').fill('feed-client');
  await page.getByRole('button', { name: 'Create source' }).click();
  const secret = (await page.locator('output.secret').innerText()).trim();
  const token = async (s: string) =>
    (
      await fetch(`${h.url}/v2/auth/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: 'feed-client',
          client_secret: s,
        }),
      })
    ).status;
  assert.equal(await token(secret), 200);
  await page.getByRole('link', { name: 'Done' }).click();
  await page.getByRole('button', { name: 'Rotate the secret of ADT feed' }).click();
  const rotated = (await page.locator('output.secret').innerText()).trim();
  assert.equal(await token(secret), 401);
  assert.equal(await token(rotated), 200);

  await go('/dashboard/config');
  await page.getByRole('button', { name: 'Verify Destination app' }).click();
  await page.getByText('verified: the challenge came back').waitFor();

  // A destination with a pending log: its delete is explained, then forced from its page.
  const made = await h.platform('POST', '/platform/v1/destinations', {
    id: 'held',
    name: 'Held',
    environment: 'production',
    url: receiver.url,
  });
  assert.equal(made.status, 201);
  await h.platform('POST', '/platform/v1/destinations/held/queue/pause');
  await h.send({
    ...patientAdmin(9),
    Meta: { ...(patientAdmin(9).Meta as object), Destinations: [{ ID: 'held' }] },
  });
  await go('/dashboard/config');
  await page.getByRole('button', { name: 'Delete Held' }).click();
  await page.getByText('still has pending logs').waitFor();
  await go('/dashboard/config/destinations/held');
  await page.getByLabel('Also fail its pending logs').check();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('Destination held deleted; 1 pending logs failed.').waitFor();
});

test('revoking the platform key ends its dashboard session', async () => {
  const added = await h.platform('POST', '/platform/v1/platform-keys', { name: 'night shift' });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(added.body.key as string);
  assert.match(await page.locator('header').innerText(), /night shift/);
  await h.platform('DELETE', `/platform/v1/platform-keys/${added.body.id as string}`);
  await go('/dashboard/queues');
  await page.waitForURL(/\/dashboard\/sign-in$/);
});

test('nothing left the server; no console error', () => {
  const origin = new URL(h.url).origin;
  assert.deepEqual(
    watched.requests.filter((url) => !url.startsWith(origin)),
    [],
  );
  assert.deepEqual(watched.errors, []);
});
