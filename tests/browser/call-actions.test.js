// Call actions through the demo host page: click-to-dial from a phone link places the call on
// the PBX and the outbound call pops; notes typed in the panel end up in the call's Task.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  eventually, hangupOnPbx, launchBrowser, openHost, pbxEvents, playOnPbx, signIn,
} from './lib/harness.js';

const T = { timeout: 60000 };

/** Runs SOQL on the emulated org as the connected app's run-as user. */
async function soql(demo, query) {
  const tokenResp = await fetch(`${demo.orgUrl}/services/oauth2/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'demo-consumer-key',
      client_secret: 'demo-consumer-secret',
    }),
  });
  const token = await tokenResp.json();
  assert.ok(token.access_token, JSON.stringify(token));
  const url = `${token.instance_url ?? demo.orgUrl}/services/data/v62.0/query?q=${encodeURIComponent(query)}`;
  const resp = await fetch(url, { headers: { Authorization: `Bearer ${token.access_token}` } });
  const body = await resp.json();
  assert.ok(resp.ok, JSON.stringify(body));
  return body.records;
}

test('a click on a phone link places the call on the PBX and the outbound call pops', T, async (t) => {
  const { startDemo } = await import('./lib/harness.js');
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1001' });
  await signIn(host, '1001');

  const link = host.page.locator('[data-testid="click-to-dial"]:not(.disabled)');
  await link.waitFor({ timeout: 15000 });
  await link.click();

  // The demo PBX plays the call quickly: it is the active call or, already, the last one.
  const card = host.panel.locator('[data-testid="active-call"][data-direction="outbound"], [data-testid="last-call"]');
  await card.first().waitFor({ timeout: 15000 }).catch(async (e) => {
    const banners = await host.panel.locator('[data-testid^="banner-"]').allTextContents();
    throw new Error(`${e.message}\nbanners: ${JSON.stringify(banners)}`);
  });
  const callId = await card.first().getAttribute('data-call-id');
  // The PBX placed it for Ben, dialling the number as the PBX wants it (outside line 0 + national).
  const events = await eventually(async () => {
    const e = await pbxEvents(demo, callId);
    return e.length ? e : null;
  }, { message: 'PBX events of the dialled call' });
  assert.ok(events.every((e) => e.login === '1001'), JSON.stringify(events));
  assert.ok(events.some((e) => Object.values(e.fields).includes('008921804471')), JSON.stringify(events.map((e) => e.fields)));
  assert.deepEqual(host.problems, []);
});

test('notes and a result typed during the call end up in the call’s Task', T, async (t) => {
  const { startDemo } = await import('./lib/harness.js');
  const demo = await startDemo(t);
  const browser = await launchBrowser(t);
  const host = await openHost(browser, demo, { user: '1001' });
  await signIn(host, '1001');

  const callId = await playOnPbx(demo, {
    kind: 'inbound', target: '1001', number: '030 5551234', name: 'Nora Notiz', ringSteps: 1, talkSteps: 0, stepDelayMs: 100,
  });
  const form = host.panel.locator(`[data-testid="active-call"][data-call-id="${callId}"] [data-testid="notes-form"]`);
  await form.waitFor({ timeout: 15000 });
  await form.getByTestId('notes').fill('Asked for the price list');
  await form.getByTestId('call-result').selectOption('callback');
  await form.getByTestId('save-notes').click();
  await host.panel.getByTestId('notes-status').filter({ hasText: /\S/ }).waitFor();
  await hangupOnPbx(demo, callId);

  const task = await eventually(async () => {
    const rows = await soql(demo, `SELECT Id, Description, CallDisposition, CallType FROM Task WHERE CallObject = '${callId}:1001'`);
    return rows.length ? rows : null;
  }, { timeout: 20000, message: 'the Task of the call' });
  assert.equal(task.length, 1);
  assert.match(task[0].Description, /^Asked for the price list/);
  assert.equal(task[0].CallDisposition, 'answered: Callback agreed');
  assert.equal(task[0].CallType, 'Inbound');

  // Today's list shows the call as logged.
  await host.panel.locator(`[data-testid="today-item"][data-call-id="${callId}"][data-state="written"]`).waitFor({ timeout: 15000 });
  assert.deepEqual(host.problems, []);
});
