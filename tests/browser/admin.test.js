// The admin UI in a real browser: sign in as the STARFACE administrator, see the status and
// the e-mail mismatch, edit an instance with a pasted key (warned, trimmed, works), pick users,
// change the log level and download the log; German for a German browser.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { launchBrowser, startDemo } from './lib/harness.js';

const T = { timeout: 60000 };

async function openAdmin(browser, demo, locale = 'en-US') {
  const ctx = await browser.newContext({ locale, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // Failed loads (the 401 of the first session check, the favicon) are not script errors.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`); });
  await page.goto(`${demo.url}admin`);
  return { ctx, page, problems };
}

async function signInAsPbxAdmin(page) {
  await page.fill('#login-user', '0001');
  await page.fill('#login-password', 'admin-pass');
  await page.click('#login-submit');
  await page.waitForSelector('#nav:not([hidden])');
}

test('admin signs in, edits an instance with a pasted key, changes the log level and downloads the log', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const { page, problems } = await openAdmin(browser, demo);

  // A non-administrator is turned away with the reason.
  await page.fill('#login-user', '1001');
  await page.fill('#login-password', 'ben-pass');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.includes('not an administrator'));

  await signInAsPbxAdmin(page);
  assert.match(await page.textContent('#who'), /0001/);

  // Status: the PBX link and the org.
  await page.waitForSelector('#status-starface .pill.ok');
  await page.waitForSelector('.status-instance[data-instance="Salesforce Demo"]');

  // Users: Frank has no Salesforce user; the row is marked and the FAQ fix is shown.
  await page.click('a[data-page="users"]');
  await page.waitForSelector('tr.mismatch[data-login="1005"]');
  assert.match(await page.textContent('#users-mismatch'), /same e-mail address/);

  // Instances: edit with a key pasted with a trailing space.
  await page.click('a[data-page="instances"]');
  await page.click('tr[data-instance="Salesforce Demo"] .inst-edit');
  await page.fill('#f-client-id', 'demo-consumer-key ');
  assert.equal(await page.isVisible('#f-client-id-ws'), true, 'warned while typing');
  await page.fill('#f-description', 'Edited in the browser');
  // Pick Ben by hand in addition to the groups.
  const ben = page.locator('.f-user[value="ben.utzer@example.com"]');
  await ben.check();
  await page.click('#inst-test');
  await page.waitForSelector('#inst-test-result');
  assert.match(await page.textContent('#inst-test-result'), /works/);
  await page.click('#inst-save');
  await page.waitForSelector('#inst-saved');
  assert.match(await page.textContent('#inst-saved'), /Whitespace was removed around the consumer key/);
  await page.waitForSelector('#inst-restart');
  const list = await page.evaluate(async () => (await fetch('/admin/api/instances')).json());
  assert.equal(list.source, 'store');
  assert.equal(list.instances[0].client_id, 'demo-consumer-key');
  assert.ok(list.instances[0].users.includes('ben.utzer@example.com'), JSON.stringify(list.instances[0]));
  assert.equal(list.instances[0].description, 'Edited in the browser');

  // Log: raise the level, see it applied, download the file.
  await page.click('a[data-page="log"]');
  await page.waitForSelector('#log-info:not(:empty)');
  await page.selectOption('#log-level', 'DEBUG');
  await page.waitForFunction(() => document.querySelector('#banner').textContent.includes('debug'));
  await page.click('#log-refresh');
  await page.waitForFunction(() => document.querySelector('#log-lines').textContent.includes('log level set in the admin UI'));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#log-download')]);
  assert.match(download.suggestedFilename(), /^ctibridge\.log\.\d{4}-\d{2}-\d{2}\.txt$/);
  const text = readFileSync(await download.path(), 'utf8');
  assert.match(text, /log level set in the admin UI/);

  // Doctor names the demo's e-mail mismatch with its fix.
  await page.click('a[data-page="doctor"]');
  await page.click('#doctor-run');
  await page.waitForSelector('#doctor-summary', { timeout: 30000 });
  assert.match(await page.textContent('#doctor-result'), /frank\.fremd@example\.org/);

  assert.deepEqual(problems, []);
});

test('a German browser gets the German admin UI', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const { page, problems } = await openAdmin(browser, demo, 'de-DE');
  assert.equal(await page.textContent('#login-submit'), 'Anmelden');
  await signInAsPbxAdmin(page);
  assert.equal(await page.textContent('a[data-page="users"]'), 'Benutzer');
  assert.equal(await page.textContent('a[data-page="log"]'), 'Protokoll');
  assert.deepEqual(problems, []);
});
