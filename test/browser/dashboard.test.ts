import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, watchedPage } from '../helpers/browser.ts';
import { PLATFORM_KEY, patientAdmin, startHarness, type Harness } from '../helpers/harness.ts';
import { Receiver } from '../helpers/receiver.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), against the real
 * server on its embedded store, with real receivers: what an operator does, by its controls'
 * accessible names. Every page load is checked for requests to anywhere but Switchboard and for
 * console errors (CSP violations included).
 */

let h: Harness;
let receiver: Receiver;
let browser: Browser;
let watched: Awaited<ReturnType<typeof watchedPage>>;
let page: Page;
const poison = new Set<string>();

before(async () => {
  receiver = await Receiver.start();
  receiver.respond = (r) => (poison.has(String(r.headers['x-switchboard-log-id'])) ? 500 : 200);
  h = await startHarness({ destinations: [{ id: 'app', url: receiver.url }] });
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
const withMrn = (n: number, mrn: string, extra: Record<string, unknown> = {}) => ({
  ...patientAdmin(n),
  Patient: { Identifiers: [{ ID: mrn, IDType: 'MR' }], Demographics: { FirstName: 'Ada', ...extra } },
});

test('without a session every page shows the sign-in, never data; a bad key is refused', async () => {
  await h.send(withMrn(1, 'MRN-SECRET-1'));
  for (const path of ['/dashboard', '/dashboard/logs', '/dashboard/queues', '/dashboard/config']) {
    await go(path);
    assert.match(page.url(), /\/dashboard\/sign-in$/);
    assert.ok(!(await page.content()).includes('MRN-SECRET-1'));
  }
  await page.getByLabel('Platform API key').fill('not-a-key-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That key is not valid.').waitFor();
  // A state change with no session at all: refused, nothing done.
  const res = await fetch(`${h.url}/dashboard/queues/app/pause`, {
    method: 'POST',
    body: new URLSearchParams({}),
  });
  assert.equal(res.status, 401);
});

test('sign in, search by MRN, open the detail at a URL with the log ID, retry it', async () => {
  const sent = await h.send(withMrn(2, 'MRN-77341'));
  const logId = sent.body.Meta.Logs[0].ID as string;
  await h.settled();
  await go('/dashboard/sign-in');
  await page.getByLabel('Platform API key').fill(PLATFORM_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();

  await page.getByLabel('Patient identifier').fill('MRN-77341');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/q=MRN-77341/);
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), 1, 'only the log of that patient');
  await rows.first().getByRole('link').click();
  await page.waitForURL(new RegExp(`/dashboard/logs/${logId}$`));
  await page.getByText('"MRN-77341"').waitFor();
  await page.getByRole('heading', { name: 'Attempts' }).waitFor();
  assert.equal(await page.locator('section[aria-labelledby="attempts"] tbody tr').count(), 1);

  await page.getByRole('button', { name: 'Retry' }).click();
  await page.getByText('Retried as a new log').waitFor();
  assert.notEqual(page.url(), `${h.url}/dashboard/logs/${logId}`, 'shows the new log');
  await page.getByRole('link', { name: logId }).waitFor();
  await waitFor(
    () =>
      receiver.received.filter((r) => r.json.Patient && JSON.stringify(r.json).includes('MRN-77341'))
        .length === 2,
    5_000,
    'the retry delivered',
  );
});

test('a blocked queue: why the next log waits, then pause, skip with a reason, resume; the page refreshes itself', async () => {
  const bad = await h.send(withMrn(3, 'MRN-POISON'));
  poison.add(bad.body.Meta.Logs[0].ID);
  const waiting = (await h.send(withMrn(4, 'MRN-WAITING'))).body.Meta.Logs[0].ID as string;
  await waitFor(
    async () => (await h.platform('GET', '/platform/v1/destinations/app/queue')).body.state === 'blocked',
    5_000,
    'blocked',
  );

  await go(`/dashboard/logs/${waiting}`);
  const why = page.locator('section.why');
  await why.getByText('blocked').first().waitFor();
  assert.match(await why.innerText(), /1 ahead of it/);
  assert.match(await why.innerText(), /HTTP 500/);

  await go('/dashboard/queues');
  const row = page.locator('#queue-app');
  await row.getByText('blocked').waitFor();
  await row.getByRole('button', { name: 'Pause' }).click();
  await page.locator('#queue-app').getByText('paused').first().waitFor();
  await page.getByLabel('Reason').fill('bad MRN, fixed upstream');
  await page.getByRole('button', { name: 'Skip' }).click();
  await page.getByText('Skipped').waitFor();
  const skipped = await h.platform('GET', `/platform/v1/logs/${bad.body.Meta.Logs[0].ID}`);
  assert.equal(skipped.body.status, 'failed');
  assert.match(skipped.body.failedReason, /bad MRN, fixed upstream/);
  // Resumed elsewhere (the API): this page sees it without a reload.
  assert.equal((await h.platform('POST', '/platform/v1/destinations/app/queue/resume')).status, 200);
  await page.locator('#queue-app').getByText('active').waitFor({ timeout: 8_000 });
  await waitFor(() => receiver.logIds().includes(waiting), 5_000, 'the waiting log delivered');
});

test('create a destination and a subscription in the configuration, and a message is routed through them', async () => {
  const lab = await Receiver.start();
  try {
    await go('/dashboard/config');
    await page.getByText('Create a destination').click();
    await page.locator('#dest-id').fill('lab');
    await page.locator('#dest-name').fill('Lab system');
    await page.locator('#dest-url').fill(lab.url);
    await page.getByRole('button', { name: 'Create destination' }).click();
    await page.getByText('Destination lab created.').waitFor();
    await page.getByText('Create a subscription').click();
    await page.getByLabel('Data model').selectOption('PatientAdmin');
    await page.getByLabel('Destination', { exact: true }).selectOption('lab');
    await page.getByRole('button', { name: 'Create subscription' }).click();
    await page.getByText('Subscription created.').waitFor();
    const sent = await h.send(withMrn(5, 'MRN-LAB'));
    assert.ok(sent.body.Meta.Destinations.some((d: { ID: string }) => d.ID === 'lab'));
    await waitFor(() => lab.received.length === 1, 5_000, 'routed to the new destination');
    // Its delete is refused while it holds pending logs? It holds none now: deleted.
    await go('/dashboard/audit');
    await page.getByText('create', { exact: true }).first().waitFor();
    assert.match(await page.locator('tbody').innerText(), /destination\s+lab/);
  } finally {
    await lab.close();
  }
});

test('a payload holding markup is shown as text and runs nothing', async () => {
  const attack = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
  const logId = (await h.send(withMrn(6, 'MRN-XSS', { LastName: attack }))).body.Meta.Logs[0].ID as string;
  await go(`/dashboard/logs/${logId}`);
  await page.getByText('window.__xss=2', { exact: false }).first().waitFor();
  assert.equal(await page.evaluate('window.__xss'), undefined);
  assert.equal(await page.locator('main img').count(), 0);
});

test('at 390 px wide the pages fit; every control has an accessible name', async () => {
  const phone = await watchedPage(browser, { width: 390, height: 800 });
  try {
    await phone.page.goto(`${h.url}/dashboard/sign-in`);
    await phone.page.getByLabel('Platform API key').fill(PLATFORM_KEY);
    await phone.page.keyboard.press('Enter');
    await phone.page.getByRole('heading', { name: 'Logs' }).waitFor();
    for (const path of ['/dashboard/logs', '/dashboard/queues', '/dashboard/config']) {
      await phone.page.goto(h.url + path);
      // Run in the browser (strings: this project's types have no DOM).
      const overflow = await phone.page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      assert.ok(overflow <= 1, `${path}: ${overflow}px wider than the screen`);
      const unnamed = await phone.page.evaluate<string[]>(`
        [...document.querySelectorAll('button, input:not([type=hidden]), select, textarea, a')]
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
          .map((el) => el.outerHTML.slice(0, 80))`);
      assert.deepEqual(unnamed, [], `${path}: controls without a name`);
    }
    assert.deepEqual(phone.errors, []);
  } finally {
    await phone.close();
  }
});

test('a wrong CSRF token is refused; sign-out ends the session, also for a copy of its cookie', async () => {
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'sb_session');
  assert.ok(session?.httpOnly && session.sameSite === 'Strict');
  const cookie = `sb_session=${session.value}`;
  const forged = await fetch(`${h.url}/dashboard/queues/app/pause`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: 'forged' }),
  });
  assert.equal(forged.status, 403);
  assert.notEqual((await h.platform('GET', '/platform/v1/destinations/app/queue')).body.state, 'paused');

  await go('/dashboard/logs');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/dashboard\/sign-in$/);
  const replayed = await fetch(`${h.url}/dashboard/logs`, { headers: { cookie }, redirect: 'manual' });
  assert.equal(replayed.status, 303, 'the signed-out cookie opens nothing');
});

test('no request left the server and no console error was logged', () => {
  const origin = new URL(h.url).origin;
  assert.ok(watched.requests.length > 10);
  assert.deepEqual(
    watched.requests.filter((url) => !url.startsWith(origin)),
    [],
  );
  assert.deepEqual(watched.errors, []);
});
