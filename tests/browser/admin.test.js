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
  await page.waitForSelector('#page-users tr.mismatch[data-login="1005"]');
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
  assert.equal(await page.textContent('a[data-page="cards"]'), 'Anruferkarten');
  await page.click('a[data-page="cards"]');
  await page.waitForSelector('.cards-instance h3');
  assert.match(await page.textContent('#page-cards'), /Felder für Contact/);
  assert.match(await page.textContent('#page-cards'), /Objekt-Priorität/);
  assert.deepEqual(problems, []);
});

test('admin picks caller-card fields from the org, orders them, sets the object priority, an API cap and what calls are logged', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const { page, problems } = await openAdmin(browser, demo);
  await signInAsPbxAdmin(page);

  await page.click('a[data-page="cards"]');
  const inst = '.cards-instance[data-instance="Salesforce Demo"]';
  const contact = `${inst} .card-object[data-object="Contact"]`;
  // The org's describe offers every field, custom ones too.
  await page.waitForSelector(`${contact} .card-pick option[value="Department"]`, { state: 'attached' });
  assert.match(await page.textContent(`${contact} .card-pick`), /Assistant_Direct__c, custom/);
  await page.click(`${contact} li[data-path="Email"] .card-remove`);
  await page.selectOption(`${contact} .card-pick`, 'Department');
  await page.click(`${contact} .card-add-btn`);
  await page.fill(`${contact} li[data-path="Department"] .card-label`, 'Abteilung');
  await page.click(`${contact} li[data-path="Department"] .card-up`);
  await page.click(`${inst} .priority li[data-object="Account"] .prio-up`);
  await page.click(`${inst} .priority li[data-object="Account"] .prio-up`);
  await page.fill(`${inst} .card-cap`, '100000');
  await page.click(`${inst} .card-save`);
  await page.waitForSelector('#cards-saved');

  const saved = await page.evaluate(async () => (await fetch('/admin/api/layout')).json());
  const mine = saved.instances.find((i) => i.name === 'Salesforce Demo');
  assert.deepEqual(mine.cards.Contact.map((f) => [f.path, f.label]),
    [['Account.Name', 'Account'], ['Title', 'Title'], ['Department', 'Abteilung'], ['Owner.Name', 'Owner']]);
  assert.deepEqual(mine.priority, ['Account', 'Contact', 'Lead']);
  assert.equal(mine.daily_api_cap, 100000);
  // The page shows what it saved after a reload.
  await page.reload();
  await page.waitForSelector(`${contact} li[data-path="Department"]`);
  assert.equal(await page.inputValue(`${inst} .card-cap`), '100000');

  // A field the org does not have is refused with the reason, and nothing changes.
  const refused = await page.evaluate(async () => {
    const s = await (await fetch('/admin/api/session')).json();
    const r = await fetch('/admin/api/layout/Salesforce%20Demo', {
      method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf },
      body: JSON.stringify({ cards: { Lead: [{ path: 'Nope__c', label: 'Nope' }] } }),
    });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(refused.status, 400);
  assert.match(refused.body.message, /Lead\.Nope__c/);

  // What calls get logged: on the instance form.
  await page.click('a[data-page="instances"]');
  await page.click('tr[data-instance="Salesforce Demo"] .inst-edit');
  assert.equal(await page.isChecked('.f-call[value="internal"]'), false);
  await page.check('.f-call[value="internal"]');
  await page.uncheck('.f-call[value="missed"]');
  await page.selectOption('#f-missed-group', 'each');
  await page.click('#inst-save');
  await page.waitForSelector('#inst-saved');
  const list = await page.evaluate(async () => (await fetch('/admin/api/instances')).json());
  assert.deepEqual(list.instances[0].calls, { log_calls: ['inbound', 'outbound', 'internal'], missed_group_calls: 'each', unknown_caller_object: 'Lead' });

  assert.deepEqual(problems, []);
});

test('admin links a STARFACE user to a Salesforce user by hand, sees it as manual and removes it', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const { page, problems } = await openAdmin(browser, demo);
  await signInAsPbxAdmin(page);
  await page.click('a[data-page="users"]');
  // Frank (frank.fremd@example.org) has no Salesforce user of that e-mail.
  await page.waitForSelector('#page-users tr.mismatch[data-login="1005"] .user-link');
  assert.match(await page.textContent('#page-users tr[data-login="1001"] .user-link-cell'), /e-mail/);
  await page.click('#page-users tr[data-login="1005"] .user-link');
  await page.waitForSelector('#page-users tr[data-login="1005"] .user-pick');
  // The page refreshes every 5 s; the open picker survives it.
  await new Promise((r) => setTimeout(r, 5500));
  await page.selectOption('#page-users tr[data-login="1005"] .user-pick', { label: 'Gina Gone <gina.gone@example.com>' });
  await page.click('#page-users tr[data-login="1005"] .user-link-save');
  await page.waitForSelector('#page-users tr[data-login="1005"]:not(.mismatch) .user-unlink');
  assert.match(await page.textContent('#page-users tr[data-login="1005"]'), /Gina Gone/);
  assert.match(await page.textContent('#page-users tr[data-login="1005"] .user-link-cell'), /manual/);
  assert.match(await page.textContent('#banner'), /linked to Gina Gone by hand/);

  // The doctor no longer names Frank's mismatch.
  await page.click('a[data-page="doctor"]');
  await page.click('#doctor-run');
  await page.waitForSelector('#doctor-summary', { timeout: 30000 });
  assert.doesNotMatch(await page.textContent('#doctor-result'), /frank\.fremd@example\.org/);
  assert.match(await page.textContent('#doctor-result'), /linked by hand/);

  await page.click('a[data-page="users"]');
  await page.click('#page-users tr[data-login="1005"] .user-unlink');
  await page.waitForSelector('#page-users tr.mismatch[data-login="1005"] .user-link');

  // The admin sets Clara's STARFACE password for her UCI session; a wrong one is refused.
  await page.click('#page-users tr[data-login="1002"] .user-password');
  await page.fill('#page-users tr[data-login="1002"] .user-password-input', 'not-hers');
  await page.click('#page-users tr[data-login="1002"] .user-password-save');
  await page.waitForFunction(() => document.querySelector('#page-users tr[data-login="1002"] .user-password-error').textContent.includes('refused'));
  await page.fill('#page-users tr[data-login="1002"] .user-password-input', 'clara-pass');
  await page.click('#page-users tr[data-login="1002"] .user-password-save');
  await page.waitForSelector('#page-users tr[data-login="1002"] .user-uci-cell .pill.active', { timeout: 20000 });
  assert.match(await page.textContent('#banner'), /password of 1002 is stored/);
  assert.deepEqual(problems, []);
});

test('a daily API cap set in the admin UI pauses the background sync, and the Status page says so', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const { page, problems } = await openAdmin(browser, demo);
  await signInAsPbxAdmin(page);
  await page.click('a[data-page="cards"]');
  const inst = '.cards-instance[data-instance="Salesforce Demo"]';
  await page.fill(`${inst} .card-cap`, '1');
  await page.click(`${inst} .card-save`);
  await page.waitForSelector('#cards-saved');
  await page.click('a[data-page="status"]');
  const box = '.status-instance[data-instance="Salesforce Demo"]';
  await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent || '').includes('paused: daily cap 1 reached'), box, { timeout: 20000 });
  assert.match(await page.textContent(`${box} .api-usage`), /daily cap for the sync: 1/);
  const status = await page.evaluate(async () => (await fetch('/api/status')).json());
  assert.match(status.instances[0].sync.paused.reason, /^paused: daily cap 1 reached/);
  assert.deepEqual(problems, []);
});
