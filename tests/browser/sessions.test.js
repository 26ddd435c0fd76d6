// Who sees what, and when: panels that connect mid-call, two users at once, reloads, settings
// and a Salesforce user without a STARFACE user.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  eventually, germanPbxToE164, hangupOnPbx, launchBrowser, numbersByE164, openCtiCalls, openHost,
  panelFrame, pbxEvents, playFromHost, playOnPbx, recordsWithNumber, screenPops, signIn,
  sleep, startDemo, waitForPhone,
} from './lib/harness.js';

const T = { timeout: 30000 };

/**
 * German numbers that exactly one record of the org has, and that no Account switchboard
 * (`...0`) could claim as an extension: each is a single exact match by the org's own account.
 */
async function singleMatchNumbers(demo) {
  const byNumber = await numbersByE164(demo);
  const expected = await (await fetch(`${demo.orgUrl}/__emulator/expected-numbers`)).json();
  const switchboards = expected.filter((x) => x.object === 'Account' && x.e164?.endsWith('0')).map((x) => x.e164.slice(0, -1));
  return expected
    .filter((x) => x.object === 'Contact' && x.field === 'Phone' && x.e164?.startsWith('+49'))
    .map((x) => ({ e164: x.e164, id: x.id }))
    .filter((x) => byNumber.get(x.e164).size === 1 && !switchboards.some((p) => x.e164.startsWith(p)));
}

test('a panel that connects mid-call shows the call at once', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const first = await openHost(browser, demo, { user: '1002' });
  await signIn(first, '1002');
  await first.page.close();

  const [caller] = await singleMatchNumbers(demo);
  const callId = await playOnPbx(demo, {
    kind: 'inbound', target: '1002', e164: caller.e164, format: 'national',
    ringSteps: 1, talkSteps: 0, stepDelayMs: 100,
  });
  // The PBX has told the connector that the call is connected before any panel is open.
  await eventually(async () => (await pbxEvents(demo, callId)).some((e) => e.fields.state === 'CONNECTED' && e.outcome?.status === 'delivered'),
    { message: 'the CONNECTED event delivered to the connector' });
  await sleep(200);

  const again = await openHost(browser, demo, { user: '1002', context: first.ctx });
  await again.page.click('[data-testid="utility-item"]');
  const call = again.panel.locator('[data-testid="active-call"][data-state="connected"]');
  await call.waitFor();
  await call.locator(`[data-testid="caller-card"][data-record-id="${caller.id}"]`).waitFor();
  assert.equal(await again.panel.getByTestId('sign-in').count(), 0);

  await hangupOnPbx(demo, callId);
  await again.panel.getByTestId('last-call').waitFor();
  assert.equal(await again.panel.getByTestId('active-call').count(), 0);
});

test('two users at once each see only their own calls', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const ben = await openHost(browser, demo, { user: '1001' });
  const david = await openHost(browser, demo, { user: '1003' });
  await Promise.all([signIn(ben, '1001'), signIn(david, '1003')]);

  const [forBen, forDavid] = await singleMatchNumbers(demo);
  const spec = { kind: 'inbound', format: 'national', ringSteps: 2, talkSteps: 2, stepDelayMs: 400 };
  await playOnPbx(demo, { ...spec, target: '1001', e164: forBen.e164 });
  await playOnPbx(demo, { ...spec, target: '1003', e164: forDavid.e164 });

  await ben.panel.locator(`[data-testid="caller-card"][data-record-id="${forBen.id}"]`).first().waitFor();
  await david.panel.locator(`[data-testid="caller-card"][data-record-id="${forDavid.id}"]`).first().waitFor();
  for (const [who, own] of [[ben, forBen], [david, forDavid]]) {
    await who.panel.getByTestId('last-call').waitFor({ timeout: 15000 });
    const pops = await eventually(async () => {
      const p = screenPops(await openCtiCalls(who.page));
      return p.length ? p : null;
    }, { message: 'a screenPop' });
    assert.deepEqual(pops.map((p) => p.params?.recordId), [own.id]);
    const seen = await (await panelFrame(who.page)).evaluate(() => [...document.querySelectorAll('[data-testid="active-call"], [data-testid="last-call"]')].map((e) => e.textContent));
    const other = own === forBen ? forDavid : forBen;
    assert.ok(seen.every((text) => !text.includes(other.e164)), `${own.e164}'s user saw ${other.e164}`);
  }
});

test('a reload keeps the sign-in, and calls still pop after it', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  // Eva's e-mail differs in case between STARFACE and Salesforce.
  const host = await openHost(browser, demo, { user: '1004' });
  await signIn(host, '1004');
  const name = await host.panel.getByTestId('signed-in-user').textContent();

  let popups = 0;
  host.ctx.on('page', () => { popups++; });
  await host.page.reload();
  await host.page.click('[data-testid="utility-item"]');
  await waitForPhone(host, '1004');
  assert.equal(await host.panel.getByTestId('signed-in-user').textContent(), name);
  assert.equal(await host.panel.getByTestId('sign-in').count(), 0);
  assert.equal(popups, 0, 'no sign-in window after the reload');

  const played = await playFromHost(host.page, 'known');
  const ids = await recordsWithNumber(demo, germanPbxToE164(played.number));
  const pops = await eventually(async () => {
    const p = screenPops(await openCtiCalls(host.page));
    return p.length ? p : null;
  }, { message: 'a screenPop after the reload' });
  assert.deepEqual(pops.map((p) => p.params?.recordId), ids);
});

test('with auto-open off the card shows but nothing opens, and the setting is kept', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1001' });
  await signIn(host, '1001');

  await host.panel.getByTestId('settings-button').click();
  const toggle = host.panel.getByTestId('setting-auto_open_record');
  assert.equal(await toggle.isChecked(), true, 'auto-open is on by default');
  await host.panel.locator('label[for="set-auto_open_record"]').click();
  await host.panel.locator('[data-testid="settings-status"][data-kind="saved"]').waitFor();

  await host.page.reload();
  await host.page.click('[data-testid="utility-item"]');
  await waitForPhone(host, '1001');
  await host.panel.getByTestId('settings-button').click();
  assert.equal(await host.panel.getByTestId('setting-auto_open_record').isChecked(), false);
  await host.panel.getByTestId('back-button').click();

  const played = await playFromHost(host.page, 'known');
  const [recordId] = await recordsWithNumber(demo, germanPbxToE164(played.number));
  await host.panel.locator(`[data-testid="active-call"] [data-testid="caller-card"][data-record-id="${recordId}"]`).waitFor();
  await sleep(500);
  assert.deepEqual(screenPops(await openCtiCalls(host.page)), []);
  await host.panel.getByTestId('open-record').click();
  await eventually(async () => screenPops(await openCtiCalls(host.page)).some((p) => p.params?.recordId === recordId),
    { message: 'the screenPop of the opened record' });
});

test('a wrong STARFACE password is named in the panel; the right one connects the phone again', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1003' });
  await signIn(host, '1003');
  const { panel } = host;

  await panel.getByTestId('settings-button').click();
  await panel.getByTestId('change-credentials').click();
  await panel.getByTestId('cred-login').fill('1003');
  await panel.getByTestId('cred-password').fill('not-davids-password');
  await panel.getByTestId('cred-submit').click();
  await panel.locator('[data-testid="uci-state"][data-state="failed"]').waitFor({ timeout: 15000 });
  const form = panel.getByTestId('credentials-form');
  await form.waitFor();
  assert.match(await form.getByTestId('cred-intro').textContent(), /did not accept/);

  await panel.getByTestId('cred-password').fill('david-pass');
  await panel.getByTestId('cred-submit').click();
  await panel.locator('[data-testid="uci-state"][data-state="active"]').waitFor({ timeout: 15000 });
  await form.waitFor({ state: 'detached' });

  const played = await playFromHost(host.page, 'known');
  const ids = await recordsWithNumber(demo, germanPbxToE164(played.number));
  await panel.locator(`[data-testid="active-call"] [data-testid="caller-card"][data-record-id="${ids[0]}"]`).waitFor();
});

test('a Salesforce user without a STARFACE user is told how to fix it', T, async (t) => {
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { loginHint: 'gina.gone@example.com' });
  await host.page.click('[data-testid="utility-item"]');
  const button = host.panel.getByTestId('sign-in');
  const [popup] = await Promise.all([host.ctx.waitForEvent('page'), button.click()]);
  const message = host.panel.getByTestId('no-starface-user').or(host.panel.getByTestId('signin-error'));
  await message.first().waitFor();
  assert.match(await message.first().textContent(), /e-mail/i);
  await popup.close().catch(() => {});
});
