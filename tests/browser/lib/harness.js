// Test harness: a fresh `ctibridge demo` per test on a free port, a headless Debian Chromium
// driven by playwright-core, and small helpers to talk to the demo host page, the panel inside
// it and the two emulators behind it.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');

export const BIN = path.resolve(repo, process.env.CTIBRIDGE_BIN ?? 'target/debug/ctibridge');
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach Google's hosts,
// which this machine's closed network refuses.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** STARFACE passwords of the shared demo data, for the credentials form. */
export const PASSWORDS = {
  1001: 'ben-pass', 1002: 'clara-pass', 1003: 'david-pass', 1004: 'eva-pass', 1005: 'frank-pass',
};

const START_TIMEOUT_MS = 20000;

/**
 * Starts `ctibridge demo --listen 127.0.0.1:0` and waits for the line that names the
 * connector's URL. Stops it (and everything it started) when the test ends.
 */
export async function startDemo(t) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ctibridge-browser-'));
  const child = spawn(BIN, ['demo', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200000) stderr = stderr.slice(-100000);
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ctibridge demo printed no connector URL within ${START_TIMEOUT_MS} ms\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`)), START_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n').find((l) => l.includes('connector') && /https?:\/\/\S+/.test(l));
      if (line) {
        clearTimeout(timer);
        resolve(line.match(/https?:\/\/\S+/)[0].replace(/\/?$/, '/'));
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`ctibridge demo exited (${code ?? signal}) before it was ready\nstdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`));
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${e.message}`));
    });
  });
  const demo = {
    url,
    child,
    logs: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  t.after(() => demo.stop());
  demo.info = await getJson(`${url}demo/api/info`);
  demo.orgUrl = demo.info.org_url.replace(/\/$/, '');
  demo.pbxUrl = demo.info.pbx_url.replace(/\/$/, '');
  // When a test fails, what the connector logged is the first thing one wants to read.
  t.after(() => {
    if (process.env.CTIBRIDGE_TEST_LOGS) process.stderr.write(`\n--- ctibridge log (${t.name}) ---\n${stderr.slice(-8000)}\n`);
  });
  return demo;
}

/** A headless Chromium, closed when the test ends. */
export async function launchBrowser(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20000 });
  t.after(() => browser.close());
  return browser;
}

/**
 * A fresh browser context (its own storage: one person at one browser) with the demo host
 * page open for `user` (a STARFACE login id).
 */
export async function openHost(browser, demo, { user, locale = 'en-US', loginHint, context } = {}) {
  const ctx = context ?? await browser.newContext({ locale, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  const q = new URLSearchParams();
  if (user) q.set('user', user);
  if (loginHint) q.set('login_hint', loginHint);
  await page.goto(`${demo.url}demo?${q}`);
  const panel = page.frameLocator('[data-testid="panel-frame"]');
  return { ctx, page, panel, problems };
}

/** The panel's frame object (for evaluate), once it has loaded. */
export async function panelFrame(page) {
  const handle = await page.waitForSelector('[data-testid="panel-frame"]', { state: 'attached' });
  for (let i = 0; i < 100; i++) {
    const f = await handle.contentFrame();
    if (f && f.url().includes('/panel')) return f;
    await sleep(50);
  }
  throw new Error('the panel frame did not load');
}

/** Opens the Phone utility item if it is closed. */
export async function openUtility(page) {
  const open = await page.getAttribute('[data-testid="utility-panel"]', 'data-open');
  if (open !== 'true') await page.click('[data-testid="utility-item"]');
  await page.waitForSelector('[data-testid="utility-panel"][data-open="true"]');
}

export async function minimizeUtility(page) {
  await page.click('[data-testid="utility-minimize"]');
  await page.waitForSelector('[data-testid="utility-panel"][data-open="false"]', { state: 'attached' });
}

/**
 * Signs the panel in through the popup (Salesforce's authorize page skipped by login_hint)
 * and, if the user's STARFACE login is not known yet, enters it in the panel. Resolves when
 * the user's UCI session is active.
 */
export async function signIn(host, login) {
  const { ctx, page, panel } = host;
  await openUtility(page);
  const button = panel.getByTestId('sign-in');
  await button.waitFor();
  const [popup] = await Promise.all([ctx.waitForEvent('page', { timeout: 10000 }), button.click()]);
  await popup.waitForEvent('close', { timeout: 10000 }).catch(async () => {
    const text = await popup.textContent('body').catch(() => '(unreadable)');
    throw new Error(`the sign-in popup did not close; it shows: ${text}`);
  });
  await panel.getByTestId('signed-in-user').filter({ hasText: /\S/ }).waitFor();
  await waitForPhone(host, login);
}

/** Waits until the panel says the phone is connected, entering STARFACE credentials if asked. */
export async function waitForPhone(host, login) {
  const { panel } = host;
  const active = panel.locator('[data-testid="uci-state"][data-state="active"]');
  const form = panel.getByTestId('credentials-form');
  await active.or(form).first().waitFor({ timeout: 15000 });
  if (!(await active.isVisible())) {
    await panel.getByTestId('cred-login').fill(login);
    await panel.getByTestId('cred-password').fill(PASSWORDS[login]);
    await panel.getByTestId('cred-submit').click();
    await active.waitFor({ timeout: 15000 });
  }
  await panel.locator('[data-testid="ws-state"][data-state="live"]').waitFor();
}

/** Plays a scenario through the host page's buttons; returns what the demo API answered. */
export async function playFromHost(page, scenario) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/demo/api/play') && r.request().method() === 'POST'),
    page.click(`[data-testid="play-${scenario}"]`),
  ]);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok()) throw new Error(`POST /demo/api/play ${scenario}: HTTP ${resp.status()} ${JSON.stringify(body)}`);
  return body;
}

/** Plays a call directly on the PBX emulator (for timings the demo buttons do not offer). */
export async function playOnPbx(demo, spec) {
  const body = await postJson(`${demo.pbxUrl}/__emulator/calls`, spec);
  return body.callId;
}

export async function hangupOnPbx(demo, callId) {
  await postJson(`${demo.pbxUrl}/__emulator/calls/${encodeURIComponent(callId)}/hangup`, {});
}

/** The PBX's events for one call, as delivered to sessions. */
export async function pbxEvents(demo, callId) {
  const all = await getJson(`${demo.pbxUrl}/__emulator/events`);
  return all.filter((e) => e.fields?.id === callId);
}

/** Everything the Open CTI stand-in recorded inside the panel frame. */
export async function openCtiCalls(page) {
  const frame = await panelFrame(page);
  return frame.evaluate(() => structuredClone(window.__opencti_calls ?? []));
}

export function screenPops(calls) {
  return calls.filter((c) => c.method === 'screenPop').map((c) => c.args);
}

/** Record ids whose phone values stand for `e164`, by the emulator's own account of its data. */
export async function recordsWithNumber(demo, e164) {
  const expected = await getJson(`${demo.orgUrl}/__emulator/expected-numbers`);
  return [...new Set(expected.filter((x) => x.e164 === e164).map((x) => x.id))].sort();
}

/** Expected-numbers of the org, grouped by E.164. */
export async function numbersByE164(demo) {
  const expected = await getJson(`${demo.orgUrl}/__emulator/expected-numbers`);
  const map = new Map();
  for (const x of expected) {
    if (!x.e164) continue;
    if (!map.has(x.e164)) map.set(x.e164, new Set());
    map.get(x.e164).add(x.id);
  }
  return map;
}

/** The E.164 form of a number written the way a German PBX with outside-line prefix 0 does. */
export function germanPbxToE164(raw) {
  const digits = String(raw).replace(/[^\d+]/g, '');
  if (digits.startsWith('+')) return digits;
  if (digits.startsWith('00')) return `+${digits.slice(2)}`;
  if (digits.startsWith('0')) return `+49${digits.slice(1)}`;
  return digits;
}

/** Polls `fn` until it returns a truthy value. */
export async function eventually(fn, { timeout = 10000, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getJson(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

async function postJson(url, body) {
  const r = await fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST ${url}: HTTP ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}
