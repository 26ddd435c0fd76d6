// Screen pop through the demo host page: a call played on the emulated PBX shows the caller in
// the panel inside the Salesforce-like page, and opens the record when it should.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  eventually, germanPbxToE164, launchBrowser, minimizeUtility, openCtiCalls, openHost, playFromHost,
  recordsWithNumber, screenPops, signIn, sleep, startDemo,
} from './lib/harness.js';

const T = { timeout: 30000 };

test('a single matching record opens by itself, once, and the panel shows itself', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1001' });
  await signIn(host, '1001');
  await minimizeUtility(host.page);

  const played = await playFromHost(host.page, 'known');
  const ids = await recordsWithNumber(demo, germanPbxToE164(played.number));
  assert.equal(ids.length, 1, `the org has exactly one record with ${played.number}: ${ids}`);
  const [recordId] = ids;

  await host.page.waitForSelector('[data-testid="utility-panel"][data-open="true"]');
  const card = host.panel.locator(`[data-testid="active-call"] [data-testid="caller-card"][data-record-id="${recordId}"]`);
  await card.waitFor();
  assert.notEqual((await card.getByTestId('caller-name').textContent()).trim(), '');

  const pops = await eventually(async () => {
    const p = screenPops(await openCtiCalls(host.page));
    return p.length ? p : null;
  }, { message: 'a screenPop' });
  assert.deepEqual(pops.map((p) => [p.type, p.params?.recordId]), [['sobject', recordId]]);
  await host.page.waitForSelector(`[data-testid="opened-record"][data-record-id="${recordId}"]`);

  // The call goes on (answered, then hung up): it must not open the record a second time.
  const last = host.panel.getByTestId('last-call');
  await last.waitFor({ timeout: 20000 });
  assert.equal(await last.getAttribute('data-outcome'), 'answered');
  assert.equal(screenPops(await openCtiCalls(host.page)).length, 1);

  // The stand-in also reported the pop to the org emulator.
  const recorded = await (await fetch(`${demo.orgUrl}/__emulator/opencti-calls`)).json();
  assert.deepEqual(recorded.filter((c) => c.method === 'screenPop').map((c) => c.args?.params?.recordId), [recordId]);
  assert.deepEqual(host.problems, []);
});

test('several matching records show a list; a click opens the chosen one', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1002' });
  await signIn(host, '1002');

  const played = await playFromHost(host.page, 'two_matches');
  const ids = await recordsWithNumber(demo, germanPbxToE164(played.number));
  assert.equal(ids.length, 2, `the org has two records with ${played.number}: ${ids}`);

  const items = host.panel.locator('[data-testid="active-call"] [data-testid="match-item"]');
  await host.panel.getByTestId('match-list').waitFor();
  const shown = (await items.evaluateAll((els) => els.map((e) => e.dataset.recordId))).sort();
  assert.deepEqual(shown, ids);
  await sleep(300);
  assert.deepEqual(screenPops(await openCtiCalls(host.page)), [], 'nothing opens by itself with two matches');

  const chosen = await items.nth(1).getAttribute('data-record-id');
  await items.nth(1).click();
  const pops = await eventually(async () => {
    const p = screenPops(await openCtiCalls(host.page));
    return p.length ? p : null;
  }, { message: 'the screenPop of the clicked record' });
  assert.deepEqual(pops.map((p) => [p.type, p.params?.recordId]), [['sobject', chosen]]);
  await host.page.waitForSelector(`[data-testid="opened-record"][data-record-id="${chosen}"]`);
  await host.panel.locator(`[data-testid="match-item"][data-record-id="${chosen}"].is-opened`).waitFor();
});

test('an unknown caller shows the number and "Unbekannter Anrufer" in German', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1003', locale: 'de-DE' });
  await signIn(host, '1003');
  await minimizeUtility(host.page);

  const played = await playFromHost(host.page, 'unknown');
  const e164 = germanPbxToE164(played.number);
  assert.deepEqual(await recordsWithNumber(demo, e164), []);

  await host.page.waitForSelector('[data-testid="utility-panel"][data-open="true"]');
  const unknown = host.panel.locator('[data-testid="active-call"] [data-testid="unknown-caller"]');
  await unknown.waitFor();
  assert.match(await unknown.textContent(), /Unbekannter Anrufer/);
  assert.equal((await unknown.getByTestId('remote-number').textContent()).trim(), e164);
  assert.equal(await host.panel.getByTestId('call-state').first().textContent(), 'Eingehender Anruf');
  await sleep(300);
  assert.deepEqual(screenPops(await openCtiCalls(host.page)), []);
});

test('a suppressed number says so and opens nothing', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1001' });
  await signIn(host, '1001');

  await playFromHost(host.page, 'suppressed');
  const card = host.panel.locator('[data-testid="active-call"] [data-testid="suppressed"]');
  await card.waitFor();
  assert.match(await card.textContent(), /Number suppressed/);
  await sleep(300);
  assert.deepEqual(screenPops(await openCtiCalls(host.page)), []);
});

test('a group call rings a member and says which group it came through', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1002' });
  await signIn(host, '1002');

  const played = await playFromHost(host.page, 'group');
  const ids = await recordsWithNumber(demo, germanPbxToE164(played.number));
  const call = host.panel.locator('[data-testid="active-call"]');
  await call.locator(`[data-testid="caller-card"][data-record-id="${ids[0]}"]`).waitFor();
  assert.equal(await call.getByTestId('call-group').textContent(), 'via Sales');
});

test('an outbound call pops the dialled record; click-to-dial reaches the panel', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1004' });
  await signIn(host, '1004');

  // Salesforce hands a clicked number to the softphone's listener.
  await host.page.click('[data-testid="click-to-dial"]');
  await host.panel.getByTestId('banner-dial').filter({ hasText: '+49 89 2180 4471' }).waitFor();
  // The PBX places that call: its first event reaches the panel (which then drops the banner
  // and shows the utility once more) and the call ends. Only then is the utility minimized,
  // or that call's pop could reopen it after the minimize.
  await host.panel.getByTestId('banner-dial').waitFor({ state: 'detached' });
  await host.panel.locator('[data-testid="active-call"][data-direction="outbound"]')
    .first().waitFor({ state: 'detached', timeout: 15000 });

  await minimizeUtility(host.page);
  const played = await playFromHost(host.page, 'outbound');
  const ids = await recordsWithNumber(demo, germanPbxToE164(played.number));
  assert.equal(ids.length, 1);
  await host.page.waitForSelector('[data-testid="utility-panel"][data-open="true"]');
  const call = host.panel.locator('[data-testid="active-call"][data-direction="outbound"]');
  await call.waitFor();
  await call.locator(`[data-testid="caller-card"][data-record-id="${ids[0]}"]`).waitFor();
  const pops = await eventually(async () => {
    const p = screenPops(await openCtiCalls(host.page));
    return p.length ? p : null;
  }, { message: 'a screenPop' });
  assert.deepEqual(pops.map((p) => p.params?.recordId), [ids[0]]);
});
