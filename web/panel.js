// The ctibridge softphone panel: lives in Salesforce's utility bar (Open CTI), signs the user in
// with Salesforce, and shows that user's calls as the connector pushes them over a WebSocket.
// Plain ES module without a build step; the server embeds this file into its binary.

// ---------------------------------------------------------------------------------------------
// Strings: every text the panel shows, in English and German.

const STRINGS = {
  en: {
    'conn.live': 'Connected',
    'conn.connecting': 'Connecting…',
    'conn.offline': 'Offline',
    'conn.reconnecting': 'Reconnecting…',
    'settings': 'Settings',
    'back': 'Back',
    'boot.loading': 'Starting…',
    'err.missing_origin.title': 'Open this panel from Salesforce',
    'err.missing_origin.body': 'The panel was opened without Salesforce’s sfdcIframeOrigin parameter. Add it to the utility bar as an Open CTI softphone.',
    'err.unknown_org.title': 'This Salesforce org is not set up in ctibridge',
    'err.unknown_org.fix': 'Ask your administrator to add this org’s login URL to an instance in ctibridge.',
    'err.unreachable.title': 'ctibridge cannot be reached',
    'err.unreachable.body': 'Trying again in a moment…',
    'err.opencti': 'Salesforce’s Open CTI library did not load ({url}). Records cannot be opened automatically.',
    'retry': 'Try again',
    'signin.title': 'Sign in to see your calls',
    'signin.body': 'ctibridge shows the caller’s record while your STARFACE phone rings. Sign in once with your Salesforce account.',
    'signin.button': 'Sign in with Salesforce',
    'signin.waiting': 'Waiting for the sign-in window…',
    'signin.blocked': 'The sign-in window was blocked. Allow pop-ups for this page and try again.',
    'signin.failed': 'Sign-in failed: {error}',
    'signin.expired': 'Your session has ended. Please sign in again.',
    'signout': 'Sign out',
    'nosf.title': 'No STARFACE user for your account',
    'nosf.fix': 'ctibridge finds your STARFACE user by e-mail address. Ask your administrator to give your STARFACE user the same e-mail address as your Salesforce user, then sign in again.',
    'cred.title': 'Connect your STARFACE phone',
    'cred.missing': 'To receive your calls, ctibridge needs your STARFACE login once.',
    'cred.failed_plain': 'STARFACE did not accept your login. Check your login ID and password.',
    'cred.login': 'STARFACE login ID',
    'cred.password': 'Password',
    'cred.save': 'Connect',
    'cred.saving': 'Connecting…',
    'cred.saved': 'Saved. Connecting to STARFACE…',
    'cred.note': 'ctibridge keeps only a derived hash of your password, encrypted.',
    'cred.change': 'Change STARFACE login',
    'cred.cancel': 'Cancel',
    'idle.title': 'No calls right now',
    'idle.body': 'When your phone rings, the caller appears here.',
    'uci.active': 'Phone connected',
    'uci.connecting': 'Connecting to phone…',
    'uci.no_credentials': 'Phone not connected',
    'uci.failed': 'Phone connection failed',
    'uci.stopped': 'Phone not connected',
    'uci.unknown': '',
    'call.inbound.ringing': 'Incoming call',
    'call.outbound.dialing': 'Calling…',
    'call.internal.ringing': 'Internal call',
    'call.internal.dialing': 'Calling…',
    'call.connected': 'On call',
    'call.ended': 'Call ended',
    'call.via_group': 'via {group}',
    'call.unknown': 'Unknown caller',
    'call.suppressed': 'Number suppressed',
    'call.invalid': 'Invalid number',
    'call.internal': 'Internal',
    'call.matches': '{n} matching records',
    'call.choose': 'Choose the record to open:',
    'call.open': 'Open record',
    'call.opened': 'Opened',
    'call.switchboard': 'Switchboard',
    'call.last': 'Last call',
    'outcome.answered': 'Answered',
    'outcome.missed': 'Missed',
    'outcome.not_reached': 'Not reached',
    'outcome.none': 'Ended',
    'dir.inbound': 'Incoming',
    'dir.outbound': 'Outgoing',
    'dir.internal': 'Internal',
    'dial.dialing': 'Dialing {number}…',
    'dial.failed': 'Could not dial {number}: {error}',
    'pop.failed': 'Salesforce could not open the record: {error}',
    'set.title': 'Settings',
    'set.auto_open_record': 'Open the record automatically',
    'set.auto_open_record.help': 'When exactly one record matches the caller.',
    'set.create_unknown_inbound': 'Create a record for unknown callers',
    'set.create_unknown_inbound.help': 'Incoming calls from numbers without a record.',
    'set.create_unknown_outbound': 'Create a record for unknown numbers I call',
    'set.create_unknown_outbound.help': 'Outgoing calls to numbers without a record.',
    'set.saved': 'Saved',
    'set.saving': 'Saving…',
    'set.failed': 'Could not save: {error}',
    'set.account': 'Account',
    'set.salesforce_user': 'Salesforce',
    'set.email': 'E-mail',
    'set.starface_user': 'STARFACE',
    'set.phone': 'Phone connection',
    'error.generic': 'Something went wrong: {error}',
    'new.contact': 'New Contact',
    'new.lead': 'New Lead',
    'new.failed': 'Salesforce could not open the new record form: {error}',
    'notes.label': 'Notes',
    'notes.placeholder': 'What was the call about?',
    'notes.result': 'Call result',
    'notes.result.none': '– no result –',
    'notes.save': 'Save to Salesforce',
    'notes.saving': 'Saving…',
    'notes.saved': 'Saved to the call’s Task',
    'notes.saved_later': 'Saved; goes into the Task when the call ends',
    'notes.failed': 'Could not save the notes: {error}',
    'result.reached': 'Reached',
    'result.callback': 'Callback agreed',
    'result.voicemail': 'Left voicemail',
    'result.not_interested': 'Not interested',
    'result.wrong_number': 'Wrong number',
    'today.title': 'Today’s calls',
    'today.empty': 'No calls logged today.',
    'log.pending': 'Logging…',
    'log.written': 'Logged',
    'log.failed': 'Not logged',
    'log.skipped': 'Logged for a colleague',
    'log.open': 'Open Task',
    'log.retry': 'Try again',
    'set.phone_id': 'Phone for click-to-dial',
    'set.phone_id.primary': 'Primary phone ({phone})',
    'set.phone_id.none': 'Connect your STARFACE phone first.',
  },
  de: {
    'conn.live': 'Verbunden',
    'conn.connecting': 'Verbinde…',
    'conn.offline': 'Offline',
    'conn.reconnecting': 'Verbinde erneut…',
    'settings': 'Einstellungen',
    'back': 'Zurück',
    'boot.loading': 'Startet…',
    'err.missing_origin.title': 'Öffnen Sie dieses Fenster aus Salesforce',
    'err.missing_origin.body': 'Das Fenster wurde ohne Salesforces Parameter sfdcIframeOrigin geöffnet. Binden Sie es als Open-CTI-Softphone in die Dienstprogrammleiste ein.',
    'err.unknown_org.title': 'Diese Salesforce-Org ist in ctibridge nicht eingerichtet',
    'err.unknown_org.fix': 'Bitten Sie Ihren Administrator, die Anmelde-URL dieser Org einer Instanz in ctibridge hinzuzufügen.',
    'err.unreachable.title': 'ctibridge ist nicht erreichbar',
    'err.unreachable.body': 'Neuer Versuch in Kürze…',
    'err.opencti': 'Salesforces Open-CTI-Bibliothek wurde nicht geladen ({url}). Datensätze können nicht automatisch geöffnet werden.',
    'retry': 'Erneut versuchen',
    'signin.title': 'Melden Sie sich an, um Ihre Anrufe zu sehen',
    'signin.body': 'ctibridge zeigt den Datensatz des Anrufers, während Ihr STARFACE-Telefon klingelt. Melden Sie sich einmal mit Ihrem Salesforce-Konto an.',
    'signin.button': 'Mit Salesforce anmelden',
    'signin.waiting': 'Warte auf das Anmeldefenster…',
    'signin.blocked': 'Das Anmeldefenster wurde blockiert. Erlauben Sie Pop-ups für diese Seite und versuchen Sie es erneut.',
    'signin.failed': 'Anmeldung fehlgeschlagen: {error}',
    'signin.expired': 'Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.',
    'signout': 'Abmelden',
    'nosf.title': 'Kein STARFACE-Benutzer für Ihr Konto',
    'nosf.fix': 'ctibridge findet Ihren STARFACE-Benutzer über die E-Mail-Adresse. Bitten Sie Ihren Administrator, Ihrem STARFACE-Benutzer dieselbe E-Mail-Adresse wie Ihrem Salesforce-Benutzer zu geben, und melden Sie sich dann erneut an.',
    'cred.title': 'STARFACE-Telefon verbinden',
    'cred.missing': 'Damit Ihre Anrufe ankommen, braucht ctibridge einmalig Ihre STARFACE-Anmeldung.',
    'cred.failed_plain': 'STARFACE hat Ihre Anmeldung nicht angenommen. Prüfen Sie Login-ID und Passwort.',
    'cred.login': 'STARFACE-Login-ID',
    'cred.password': 'Passwort',
    'cred.save': 'Verbinden',
    'cred.saving': 'Verbinde…',
    'cred.saved': 'Gespeichert. Verbinde mit STARFACE…',
    'cred.note': 'ctibridge speichert nur einen abgeleiteten Hash Ihres Passworts, verschlüsselt.',
    'cred.change': 'STARFACE-Anmeldung ändern',
    'cred.cancel': 'Abbrechen',
    'idle.title': 'Gerade keine Anrufe',
    'idle.body': 'Wenn Ihr Telefon klingelt, erscheint hier der Anrufer.',
    'uci.active': 'Telefon verbunden',
    'uci.connecting': 'Verbinde mit Telefon…',
    'uci.no_credentials': 'Telefon nicht verbunden',
    'uci.failed': 'Telefonverbindung fehlgeschlagen',
    'uci.stopped': 'Telefon nicht verbunden',
    'uci.unknown': '',
    'call.inbound.ringing': 'Eingehender Anruf',
    'call.outbound.dialing': 'Wählt…',
    'call.internal.ringing': 'Interner Anruf',
    'call.internal.dialing': 'Wählt…',
    'call.connected': 'Im Gespräch',
    'call.ended': 'Anruf beendet',
    'call.via_group': 'über {group}',
    'call.unknown': 'Unbekannter Anrufer',
    'call.suppressed': 'Rufnummer unterdrückt',
    'call.invalid': 'Ungültige Rufnummer',
    'call.internal': 'Intern',
    'call.matches': '{n} passende Datensätze',
    'call.choose': 'Datensatz zum Öffnen wählen:',
    'call.open': 'Datensatz öffnen',
    'call.opened': 'Geöffnet',
    'call.switchboard': 'Zentrale',
    'call.last': 'Letzter Anruf',
    'outcome.answered': 'Angenommen',
    'outcome.missed': 'Verpasst',
    'outcome.not_reached': 'Nicht erreicht',
    'outcome.none': 'Beendet',
    'dir.inbound': 'Eingehend',
    'dir.outbound': 'Ausgehend',
    'dir.internal': 'Intern',
    'dial.dialing': 'Wähle {number}…',
    'dial.failed': '{number} konnte nicht gewählt werden: {error}',
    'pop.failed': 'Salesforce konnte den Datensatz nicht öffnen: {error}',
    'set.title': 'Einstellungen',
    'set.auto_open_record': 'Datensatz automatisch öffnen',
    'set.auto_open_record.help': 'Wenn genau ein Datensatz zum Anrufer passt.',
    'set.create_unknown_inbound': 'Datensatz für unbekannte Anrufer anlegen',
    'set.create_unknown_inbound.help': 'Eingehende Anrufe von Nummern ohne Datensatz.',
    'set.create_unknown_outbound': 'Datensatz für unbekannte gewählte Nummern anlegen',
    'set.create_unknown_outbound.help': 'Ausgehende Anrufe an Nummern ohne Datensatz.',
    'set.saved': 'Gespeichert',
    'set.saving': 'Speichert…',
    'set.failed': 'Speichern fehlgeschlagen: {error}',
    'set.account': 'Konto',
    'set.salesforce_user': 'Salesforce',
    'set.email': 'E-Mail',
    'set.starface_user': 'STARFACE',
    'set.phone': 'Telefonverbindung',
    'error.generic': 'Etwas ist schiefgegangen: {error}',
    'new.contact': 'Neuer Kontakt',
    'new.lead': 'Neuer Interessent',
    'new.failed': 'Salesforce konnte das Formular nicht öffnen: {error}',
    'notes.label': 'Notizen',
    'notes.placeholder': 'Worum ging es im Gespräch?',
    'notes.result': 'Anrufergebnis',
    'notes.result.none': '– kein Ergebnis –',
    'notes.save': 'In Salesforce speichern',
    'notes.saving': 'Speichert…',
    'notes.saved': 'In der Aufgabe des Anrufs gespeichert',
    'notes.saved_later': 'Gespeichert; kommt nach dem Anruf in die Aufgabe',
    'notes.failed': 'Notizen konnten nicht gespeichert werden: {error}',
    'result.reached': 'Erreicht',
    'result.callback': 'Rückruf vereinbart',
    'result.voicemail': 'Auf Mailbox gesprochen',
    'result.not_interested': 'Kein Interesse',
    'result.wrong_number': 'Falsche Nummer',
    'today.title': 'Heutige Anrufe',
    'today.empty': 'Heute noch keine Anrufe protokolliert.',
    'log.pending': 'Wird protokolliert…',
    'log.written': 'Protokolliert',
    'log.failed': 'Nicht protokolliert',
    'log.skipped': 'Für Kollegen protokolliert',
    'log.open': 'Aufgabe öffnen',
    'log.retry': 'Erneut versuchen',
    'set.phone_id': 'Telefon für Click-to-Dial',
    'set.phone_id.primary': 'Haupttelefon ({phone})',
    'set.phone_id.none': 'Verbinden Sie zuerst Ihr STARFACE-Telefon.',
  },
};

/** Call results offered in the panel; the Task's CallDisposition gets the English text. */
const RESULTS = ['reached', 'callback', 'voicemail', 'not_interested', 'wrong_number'];

const OBJECT_LABELS = {
  en: { Contact: 'Contact', Lead: 'Lead', Account: 'Account' },
  de: { Contact: 'Kontakt', Lead: 'Interessent', Account: 'Account' },
};

const LANG = (navigator.languages?.[0] ?? navigator.language ?? 'en').toLowerCase().startsWith('de') ? 'de' : 'en';

function t(key, vars = {}) {
  const text = STRINGS[LANG][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}

const objectLabel = (name) => OBJECT_LABELS[LANG][name] ?? name;

// ---------------------------------------------------------------------------------------------
// Small DOM helpers: everything is built with text nodes, never from HTML strings.

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// Icons drawn for this panel on a 24x24 grid.
const ICONS = {
  gear: [['circle', { cx: 12, cy: 12, r: 7.5, fill: 'none', stroke: 'currentColor', 'stroke-width': 3.2, 'stroke-dasharray': '2.6 2.3' }],
    ['circle', { cx: 12, cy: 12, r: 5.2, fill: 'none', stroke: 'currentColor', 'stroke-width': 2.2 }]],
  back: [['path', { d: 'M15 5l-7 7 7 7', fill: 'none', stroke: 'currentColor', 'stroke-width': 2.4, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }]],
  inbound: [['path', { d: 'M18 6L7 17M7 9v8h8', fill: 'none', stroke: 'currentColor', 'stroke-width': 2.4, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }]],
  outbound: [['path', { d: 'M6 18L17 7M9 7h8v8', fill: 'none', stroke: 'currentColor', 'stroke-width': 2.4, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }]],
  internal: [['path', { d: 'M4 9h13M13 5l4 4-4 4M20 15H7M11 11l-4 4 4 4', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }]],
  phone: [['path', { d: 'M7.2 3.5l2.3 4.1c.3.5.2 1.1-.2 1.5L7.9 10.4c1.2 2.5 3.2 4.5 5.7 5.7l1.3-1.4c.4-.4 1-.5 1.5-.2l4.1 2.3c.5.3.7.9.5 1.4l-.9 2.3c-.3.8-1.1 1.3-2 1.2C10.6 20.9 3.1 13.4 2.3 5.9c-.1-.9.4-1.7 1.2-2l2.3-.9c.5-.2 1.1 0 1.4.5z', fill: 'currentColor' }]],
  person: [['circle', { cx: 12, cy: 8.5, r: 4, fill: 'currentColor' }],
    ['path', { d: 'M4.5 20c0-4 3.4-6.5 7.5-6.5s7.5 2.5 7.5 6.5z', fill: 'currentColor' }]],
  lead: [['circle', { cx: 10, cy: 8.5, r: 4, fill: 'currentColor' }],
    ['path', { d: 'M2.5 20c0-4 3.4-6.5 7.5-6.5 1.6 0 3 .4 4.2 1V20z', fill: 'currentColor' }],
    ['path', { d: 'M18.5 12.5l1.1 2.3 2.4.3-1.8 1.7.5 2.4-2.2-1.2-2.2 1.2.5-2.4-1.8-1.7 2.4-.3z', fill: 'currentColor' }]],
  account: [['path', { d: 'M4 21V5.5C4 4.7 4.7 4 5.5 4h8c.8 0 1.5.7 1.5 1.5V9h3.5c.8 0 1.5.7 1.5 1.5V21z', fill: 'currentColor' }],
    ['path', { d: 'M7 7.5h2M11 7.5h1M7 11h2M11 11h1M7 14.5h2M11 14.5h1M17 12.5h1M17 16h1M9 21v-3h2v3', stroke: '#fff', 'stroke-width': 1.6 }]],
  unknown: [['circle', { cx: 12, cy: 8.5, r: 4, fill: 'currentColor' }],
    ['path', { d: 'M4.5 20c0-4 3.4-6.5 7.5-6.5s7.5 2.5 7.5 6.5z', fill: 'currentColor' }]],
  suppressed: [['circle', { cx: 12, cy: 12, r: 8, fill: 'none', stroke: 'currentColor', 'stroke-width': 2.4 }],
    ['path', { d: 'M6.5 17.5l11-11', stroke: 'currentColor', 'stroke-width': 2.4 }]],
  warning: [['path', { d: 'M12 3l10 18H2z', fill: 'currentColor' }],
    ['path', { d: 'M12 10v5M12 17.2v.6', stroke: '#fff', 'stroke-width': 2, 'stroke-linecap': 'round' }]],
  check: [['path', { d: 'M5 12.5l4.5 4.5L19 7.5', fill: 'none', stroke: 'currentColor', 'stroke-width': 2.6, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }]],
  cloud: [['path', { d: 'M7 18.5a4.5 4.5 0 01-.6-9A5.5 5.5 0 0117 8.2a4 4 0 01.7 7.9 3.5 3.5 0 01-3.2 2.4z', fill: 'currentColor' }]],
};

function icon(name, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  for (const [tag, attrs] of ICONS[name] ?? []) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  return svg;
}

// ---------------------------------------------------------------------------------------------
// Where the panel lives: its own URL, its query (names read case-insensitively, as Salesforce
// writes sfdcIframeOrigin in two spellings), and the connector's paths below it.

const query = new Map([...new URLSearchParams(location.search)].map(([k, v]) => [k.toLowerCase(), v]));
const SF_ORIGIN = query.get('sfdciframeorigin') ?? '';
const LOGIN_HINT = query.get('login_hint') ?? '';
const ROOT = location.pathname.replace(/\/+$/, '') || '/panel';
const TOKEN_KEY = 'ctibridge.token';
const HANDLED_KEY = 'ctibridge.handled-calls';

// ---------------------------------------------------------------------------------------------
// The host: Salesforce's Open CTI, behind one small adapter so that another host (a Lightning
// Web Component, Salesforce Voice) can replace it later.

const host = {
  api: null,
  /** Calls an Open CTI method and resolves with its returnValue; rejects with its error text. */
  call(method, args = {}) {
    return new Promise((resolve, reject) => {
      if (!this.api || typeof this.api[method] !== 'function') {
        reject(new Error('Open CTI is not available'));
        return;
      }
      this.api[method]({
        ...args,
        callback: (r) => {
          if (r?.success) resolve(r.returnValue);
          else reject(new Error(r?.errors?.map((e) => e.description ?? e.message ?? String(e)).join('; ') || 'failed'));
        },
      });
    });
  },
  show() {
    return this.call('setSoftphonePanelVisibility', { visible: true });
  },
  openRecord(recordId) {
    const type = this.api?.SCREENPOP_TYPE?.SOBJECT ?? 'sobject';
    return this.call('screenPop', { type, params: { recordId } });
  },
  newRecord(entityName, defaultFieldValues) {
    const type = this.api?.SCREENPOP_TYPE?.NEW_RECORD_MODAL ?? 'newRecord';
    return this.call('screenPop', { type, params: { entityName, defaultFieldValues } });
  },
  async load(url) {
    await new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = url;
      s.async = true;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`cannot load ${url}`));
      document.head.append(s);
    });
    // The real library may define sforce.opencti a moment after its script ran.
    const deadline = Date.now() + 10000;
    while (!window.sforce?.opencti) {
      if (Date.now() > deadline) throw new Error('sforce.opencti did not appear');
      await sleep(50);
    }
    this.api = window.sforce.opencti;
  },
  async enableClickToDial(listener) {
    await this.call('onClickToDial', { listener });
    await this.call('enableClickToDial');
  },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// State.

const state = {
  view: 'boot', // boot | error | signin | nosf | main | settings | credentials
  error: null, // {title, body, detail, retry}
  banners: new Map(), // id -> {kind, text, testid}
  token: localStorage.getItem(TOKEN_KEY),
  me: null, // {user, settings, uci}
  signinError: null,
  signinPending: false,
  conn: 'offline',
  calls: new Map(), // id -> Call
  opened: new Map(), // call id -> record id opened from the panel
  credentials: { busy: false, error: null, editing: false },
  settingsStatus: null, // {kind: saving|saved|failed, text}
  nosfMessage: '',
  notes: new Map(), // call id -> {notes, result, status: {kind, text}}
  today: null, // [{call_id, state, task_id, ...}] from /api/calls
  phones: null, // {phones, primary, selected} from /api/phones
};

const handled = new Set(readJson(HANDLED_KEY, []));

function readJson(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null') ?? fallback;
  } catch {
    return fallback;
  }
}

/** Marks a call as handled (visible + pop done) so that a reload never pops it again. */
function markHandled(id) {
  handled.add(id);
  const list = [...handled].slice(-100);
  localStorage.setItem(HANDLED_KEY, JSON.stringify(list));
}

function setToken(token) {
  state.token = token;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

function banner(id, kind, text, ttlMs) {
  state.banners.set(id, { kind, text });
  renderBanners();
  if (ttlMs) {
    setTimeout(() => {
      if (state.banners.get(id)?.text === text) {
        state.banners.delete(id);
        renderBanners();
      }
    }, ttlMs);
  }
}

function clearBanner(id) {
  if (state.banners.delete(id)) renderBanners();
}

// ---------------------------------------------------------------------------------------------
// Talking to the connector.

class HttpError extends Error {
  constructor(status, body) {
    super(body?.message || body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${ROOT}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { message: text.slice(0, 200) };
  }
  if (!res.ok) throw new HttpError(res.status, json);
  return json;
}

// ---------------------------------------------------------------------------------------------
// Start-up: config -> Open CTI -> sign-in -> live calls.

async function boot() {
  if (!SF_ORIGIN) {
    showError({ title: t('err.missing_origin.title'), body: t('err.missing_origin.body') });
    return;
  }
  let config;
  for (let attempt = 0; ; attempt++) {
    try {
      config = await api('GET', `/config?origin=${encodeURIComponent(SF_ORIGIN)}`);
      break;
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) {
        showError({ title: t('err.unknown_org.title'), body: e.body?.message ?? '', detail: t('err.unknown_org.fix'), testid: 'unknown-org' });
        return;
      }
      showError({ title: t('err.unreachable.title'), body: t('err.unreachable.body'), detail: e.message });
      await sleep(Math.min(15000, 1000 * 2 ** attempt));
    }
  }
  try {
    await host.load(config.opencti_url);
    await host.enableClickToDial(onClickToDial);
    host.call('notifyInitializationComplete').catch(() => {});
  } catch (e) {
    banner('opencti', 'error', t('err.opencti', { url: config.opencti_url }));
    console.error('Open CTI', e);
  }
  await signedInOrNot();
}

async function signedInOrNot() {
  if (!state.token) {
    state.view = 'signin';
    render();
    return;
  }
  try {
    state.me = await api('GET', '/api/me');
    state.view = 'main';
    render();
    connect();
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) {
      setToken(null);
      state.signinError = t('signin.expired');
      state.view = 'signin';
    } else if (e instanceof HttpError && e.status === 403 && e.body?.error === 'no_starface_user') {
      state.nosfMessage = e.body?.message ?? '';
      state.view = 'nosf';
    } else {
      showError({ title: t('err.unreachable.title'), body: t('err.unreachable.body'), detail: e.message });
      setTimeout(signedInOrNot, 3000);
      return;
    }
    render();
  }
}

function showError(err) {
  state.view = 'error';
  state.error = err;
  render();
}

// ---------------------------------------------------------------------------------------------
// Sign-in: Salesforce's OAuth web-server flow runs in a popup on the connector's origin, which
// hands the session token back by postMessage.

let loginPopup = null;

function signIn() {
  state.signinError = null;
  const params = new URLSearchParams({ origin: SF_ORIGIN });
  if (LOGIN_HINT) params.set('login_hint', LOGIN_HINT);
  loginPopup = window.open(`${ROOT}/login?${params}`, 'ctibridge-login', 'popup,width=520,height=660');
  if (!loginPopup) {
    state.signinError = t('signin.blocked');
    render();
    return;
  }
  state.signinPending = true;
  render();
  const watch = setInterval(() => {
    if (!loginPopup || loginPopup.closed) {
      clearInterval(watch);
      loginPopup = null;
      if (state.signinPending) {
        state.signinPending = false;
        render();
      }
    }
  }, 400);
}

window.addEventListener('message', (ev) => {
  if (ev.origin !== location.origin) return;
  const d = ev.data;
  if (!d || typeof d !== 'object' || d.type !== 'ctibridge-login') return;
  state.signinPending = false;
  if (d.error || !d.token) {
    state.signinError = t('signin.failed', { error: d.error || 'no token' });
    state.view = 'signin';
    render();
    return;
  }
  setToken(String(d.token));
  state.signinError = null;
  signedInOrNot();
});

// Another panel of the same browser signed in or out.
window.addEventListener('storage', (ev) => {
  if (ev.key !== TOKEN_KEY || ev.newValue === state.token) return;
  state.token = ev.newValue;
  disconnect();
  state.calls.clear();
  signedInOrNot();
});

async function signOut() {
  try {
    if (state.token) await api('POST', '/api/logout');
  } catch {
    // The session may be gone already; signing out locally is what counts.
  }
  setToken(null);
  disconnect();
  state.me = null;
  state.calls.clear();
  state.view = 'signin';
  render();
}

// ---------------------------------------------------------------------------------------------
// Live calls over the WebSocket, reconnecting with backoff.

let ws = null;
let wsGen = 0;
let retries = 0;
let retryTimer = null;
let pingTimer = null;
let pongDeadline = null;

function setConn(c) {
  state.conn = c;
  renderChrome();
}

function connect() {
  disconnect();
  const gen = ++wsGen;
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${ROOT}/ws`;
  setConn(retries ? 'reconnecting' : 'connecting');
  let sock;
  try {
    sock = new WebSocket(url);
  } catch (e) {
    scheduleReconnect(gen);
    return;
  }
  ws = sock;
  sock.onopen = () => {
    if (gen !== wsGen) return;
    sock.send(JSON.stringify({ type: 'auth', token: state.token }));
  };
  sock.onmessage = (ev) => {
    if (gen !== wsGen) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    onServerMessage(msg);
  };
  sock.onclose = () => {
    if (gen !== wsGen) return;
    ws = null;
    stopPing();
    scheduleReconnect(gen);
  };
  sock.onerror = () => {
    // onclose follows and reconnects.
  };
}

function disconnect() {
  wsGen++;
  clearTimeout(retryTimer);
  stopPing();
  if (ws) {
    ws.onclose = null;
    try {
      ws.close();
    } catch {
      // already closed
    }
    ws = null;
  }
  setConn('offline');
}

function scheduleReconnect(gen) {
  if (gen !== wsGen || !state.token) return;
  retries++;
  const base = Math.min(15000, 500 * 2 ** Math.min(retries - 1, 5));
  const delay = base / 2 + Math.random() * (base / 2);
  setConn('reconnecting');
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => {
    if (gen === wsGen) connect();
  }, delay);
}

function startPing() {
  stopPing();
  pingTimer = setInterval(() => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: 'ping' }));
    clearTimeout(pongDeadline);
    // A connection that no longer answers is dead even if the browser has not noticed.
    pongDeadline = setTimeout(() => ws?.close(), 10000);
  }, 25000);
}

function stopPing() {
  clearInterval(pingTimer);
  clearTimeout(pongDeadline);
}

function onServerMessage(msg) {
  switch (msg.type) {
    case 'hello': {
      retries = 0;
      setConn('live');
      startPing();
      if (msg.user && state.me) state.me.user = { ...state.me.user, ...msg.user };
      if (msg.uci && state.me) state.me.uci = msg.uci;
      state.calls.clear();
      for (const c of msg.calls ?? []) if (c?.id) state.calls.set(c.id, c);
      for (const c of state.calls.values()) react(c);
      loadToday();
      render();
      break;
    }
    case 'call':
      if (msg.call?.id) {
        if (msg.call.state === 'ended') setTimeout(loadToday, 1000);
        state.calls.set(msg.call.id, msg.call);
        trimEnded();
        react(msg.call);
        render();
      }
      break;
    case 'uci':
      if (state.me) {
        state.me.uci = { state: msg.state, detail: msg.detail ?? null };
        if (msg.state === 'active') state.credentials = { busy: false, error: null, editing: false };
        render();
      }
      break;
    case 'pong':
      clearTimeout(pongDeadline);
      break;
    case 'error':
      if (msg.error === 'unauthorized') {
        setToken(null);
        state.me = null;
        state.calls.clear();
        state.signinError = t('signin.expired');
        state.view = 'signin';
        disconnect();
        render();
      } else {
        banner('ws', 'error', t('error.generic', { error: msg.message || msg.error }), 8000);
      }
      break;
    default:
      break;
  }
}

function trimEnded() {
  const ended = [...state.calls.values()].filter((c) => c.state === 'ended')
    .sort((a, b) => (b.ended_at ?? '').localeCompare(a.ended_at ?? ''));
  for (const c of ended.slice(5)) state.calls.delete(c.id);
}

/** What a call makes the panel do in Salesforce: show itself, and open the one record. */
function react(call) {
  const alerting = (call.direction === 'inbound' || call.direction === 'internal') ? call.state === 'ringing'
    : call.state === 'dialing' || call.state === 'ringing';
  if (call.direction === 'outbound') clearBanner('dial');
  if (!alerting || handled.has(call.id)) return;
  markHandled(call.id);
  host.show().catch(() => {});
  const exact = (call.matches ?? []).filter((m) => m.strength === 'exact');
  if (state.me?.settings?.auto_open_record && call.matches?.length === 1 && exact.length === 1) {
    openRecord(call, exact[0].id);
  }
}

function openRecord(call, recordId) {
  state.opened.set(call.id, recordId);
  render();
  host.openRecord(recordId).catch((e) => {
    banner('pop', 'error', t('pop.failed', { error: e.message }), 8000);
  });
}

// ---------------------------------------------------------------------------------------------
// Click-to-dial: Salesforce hands us a number the user clicked.

function onClickToDial(payload) {
  const number = String(payload?.number ?? '').trim();
  if (!number) return;
  host.show().catch(() => {});
  banner('dial', 'info', t('dial.dialing', { number }), 30000);
  api('POST', '/api/dial', {
    number,
    record_id: payload?.recordId ?? null,
    record_name: payload?.recordName ?? null,
    object: payload?.objectType ?? null,
  }).catch((e) => {
    banner('dial', 'error', t('dial.failed', { number, error: e.message }), 10000);
  });
}

// ---------------------------------------------------------------------------------------------
// Unknown callers, notes and today's calls.

function newRecord(c, entityName) {
  const values = { Phone: c.remote?.e164 || c.remote?.raw || '' };
  const name = (c.remote?.name ?? '').trim();
  if (name) {
    const at = name.lastIndexOf(' ');
    if (at > 0) {
      values.FirstName = name.slice(0, at).trim();
      values.LastName = name.slice(at + 1).trim();
    } else {
      values.LastName = name;
    }
  }
  host.newRecord(entityName, values).catch((e) => banner('pop', 'error', t('new.failed', { error: e.message }), 8000));
}

function notesOf(id) {
  if (!state.notes.has(id)) state.notes.set(id, { notes: '', result: '', status: null });
  return state.notes.get(id);
}

async function saveNotes(c) {
  const n = notesOf(c.id);
  n.status = { kind: 'saving', text: t('notes.saving') };
  render();
  try {
    const result = n.result ? STRINGS.en[`result.${n.result}`] : null;
    const r = await api('PUT', `/api/calls/${encodeURIComponent(c.id)}/notes`, { notes: n.notes, result });
    n.status = { kind: 'saved', text: r?.log === 'none' ? t('notes.saved_later') : t('notes.saved') };
    loadToday();
  } catch (e) {
    n.status = { kind: 'failed', text: t('notes.failed', { error: e.message }) };
  }
  render();
}

let todayTimer = null;

async function loadToday() {
  if (!state.me) return;
  try {
    const r = await api('GET', '/api/calls');
    state.today = r?.calls ?? [];
    if (state.view === 'main') render();
  } catch {
    // The list is a convenience: the next call or refresh tries again.
  }
  clearTimeout(todayTimer);
  // Pending logs turn written within seconds; refresh while any is pending.
  if ((state.today ?? []).some((x) => x.state === 'pending')) todayTimer = setTimeout(loadToday, 3000);
}

async function retryLog(callId) {
  try {
    await api('POST', `/api/calls/${encodeURIComponent(callId)}/retry`);
  } catch (e) {
    banner('log', 'error', e.message, 8000);
  }
  loadToday();
}

async function loadPhones() {
  try {
    state.phones = await api('GET', '/api/phones');
  } catch {
    state.phones = { phones: [], primary: null, selected: null };
  }
  if (state.view === 'settings') render();
}

// ---------------------------------------------------------------------------------------------
// Settings and STARFACE credentials.

async function saveSetting(key, value) {
  const settings = { ...state.me.settings, [key]: value };
  state.me.settings = settings;
  state.settingsStatus = { kind: 'saving', text: t('set.saving') };
  render();
  try {
    const saved = await api('PUT', '/api/settings', settings);
    if (saved && typeof saved === 'object') state.me.settings = { ...settings, ...saved };
    state.settingsStatus = { kind: 'saved', text: t('set.saved') };
  } catch (e) {
    state.settingsStatus = { kind: 'failed', text: t('set.failed', { error: e.message }) };
    if (e instanceof HttpError && e.status === 401) return signedInOrNot();
  }
  render();
}

async function saveCredentials(login, password) {
  state.credentials = { ...state.credentials, busy: true, error: null };
  render();
  try {
    await api('PUT', '/api/starface-credentials', { login, password });
    state.credentials = { busy: false, error: null, editing: false, saved: true };
    if (state.me) state.me.uci = { state: 'connecting', detail: null };
    if (state.view === 'credentials') state.view = 'main';
  } catch (e) {
    state.credentials = { ...state.credentials, busy: false, error: e.message };
  }
  render();
}

// ---------------------------------------------------------------------------------------------
// Rendering.

const $ = (id) => document.getElementById(id);

function render() {
  renderChrome();
  renderBanners();
  const body = $('body');
  // Calls re-render the panel while the user types notes: keep the field and the caret.
  const focused = document.activeElement?.dataset?.notesFor;
  const caret = focused ? [document.activeElement.selectionStart, document.activeElement.selectionEnd] : null;
  body.replaceChildren(...viewContent());
  $('panel').dataset.view = state.view;
  if (focused) {
    const el = body.querySelector(`[data-notes-for="${CSS.escape(focused)}"]`);
    if (el) {
      el.focus();
      el.setSelectionRange(caret[0], caret[1]);
    }
  }
}

function renderChrome() {
  const conn = $('conn');
  const signedIn = !!state.me && (state.view === 'main' || state.view === 'settings' || state.view === 'credentials');
  conn.hidden = !signedIn;
  conn.dataset.state = state.conn;
  $('conn-label').textContent = t(`conn.${state.conn}`);
  const back = $('btn-back');
  back.hidden = !(state.view === 'settings' || (state.view === 'credentials' && state.credentials.editing));
  back.replaceChildren(icon('back'));
  back.title = t('back');
  back.setAttribute('aria-label', t('back'));
  const gear = $('btn-settings');
  gear.hidden = !(signedIn && state.view === 'main');
  gear.replaceChildren(icon('gear'));
  gear.title = t('settings');
  gear.setAttribute('aria-label', t('settings'));
  const foot = $('foot');
  foot.hidden = !state.me;
  if (state.me) {
    $('foot-user').textContent = state.me.user?.name ?? '';
    $('foot-user').title = state.me.user?.email ?? '';
    const uci = state.me.uci?.state ?? 'unknown';
    $('uci').dataset.state = uci;
    $('uci-label').textContent = t(`uci.${uci}`) || uci;
    $('uci').title = state.me.uci?.detail ?? '';
  }
}

function renderBanners() {
  const list = $('banners');
  list.replaceChildren(...[...state.banners].map(([id, b]) => h('div', { class: `banner banner-${b.kind}`, testid: `banner-${id}`, role: b.kind === 'error' ? 'alert' : 'status' },
    b.kind === 'info' ? h('span', { class: 'spinner' }) : icon('warning', 'icon banner-icon'),
    h('span', { class: 'banner-text' }, b.text))));
}

function viewContent() {
  switch (state.view) {
    case 'boot':
      return [h('div', { class: 'empty' }, h('span', { class: 'spinner spinner-lg' }), h('p', { class: 'weak' }, t('boot.loading')))];
    case 'error':
      return [errorView()];
    case 'signin':
      return [signinView()];
    case 'nosf':
      return [nosfView()];
    case 'settings':
      return [settingsView()];
    case 'credentials':
      return [credentialsCard()];
    default:
      return mainView();
  }
}

function errorView() {
  const e = state.error ?? {};
  return h('div', { class: 'notice notice-error', testid: e.testid ?? 'error-view' },
    icon('warning', 'icon notice-icon'),
    h('h2', { class: 'notice-title' }, e.title),
    e.body ? h('p', {}, e.body) : null,
    e.detail ? h('p', { class: 'weak' }, e.detail) : null);
}

function signinView() {
  return h('div', { class: 'signin', testid: 'signin-view' },
    h('div', { class: 'signin-art' }, icon('cloud', 'icon cloud'), icon('phone', 'icon signin-phone')),
    h('h2', { class: 'signin-title' }, t('signin.title')),
    h('p', { class: 'weak' }, t('signin.body')),
    h('button', { type: 'button', class: 'btn btn-brand btn-wide', testid: 'sign-in', disabled: state.signinPending, onclick: signIn },
      state.signinPending ? t('signin.waiting') : t('signin.button')),
    state.signinError ? h('div', { class: 'signin-error', role: 'alert', testid: 'signin-error' }, icon('warning', 'icon'), h('span', {}, state.signinError)) : null);
}

function nosfView() {
  return h('div', { class: 'notice notice-warning', testid: 'no-starface-user' },
    icon('warning', 'icon notice-icon'),
    h('h2', { class: 'notice-title' }, t('nosf.title')),
    state.nosfMessage ? h('p', { testid: 'no-starface-user-message' }, state.nosfMessage) : null,
    h('p', { class: 'weak' }, t('nosf.fix')),
    h('button', { type: 'button', class: 'btn btn-neutral', testid: 'sign-out', onclick: signOut }, t('signout')));
}

function mainView() {
  const uci = state.me?.uci?.state;
  const out = [];
  if (uci === 'no_credentials' || uci === 'failed' || state.credentials.editing) out.push(credentialsCard());
  const calls = [...state.calls.values()];
  const active = calls.filter((c) => c.state !== 'ended').sort((a, b) => (b.started_at ?? '').localeCompare(a.started_at ?? ''));
  const last = calls.filter((c) => c.state === 'ended').sort((a, b) => (b.ended_at ?? '').localeCompare(a.ended_at ?? ''))[0];
  for (const c of active) out.push(callCard(c));
  if (!active.length && !out.length) {
    out.push(h('div', { class: 'empty', testid: 'idle' },
      h('div', { class: 'empty-art' }, icon('phone', 'icon')),
      h('p', { class: 'empty-title' }, t('idle.title')),
      h('p', { class: 'weak' }, t('idle.body'))));
  }
  if (last) out.push(lastCall(last));
  const today = todayList();
  if (today) out.push(today);
  return out;
}

const KIND_ICON = { Contact: 'person', Lead: 'lead', Account: 'account' };

function avatar(kind) {
  const cls = kind ? `avatar avatar-${kind.toLowerCase()}` : 'avatar avatar-unknown';
  return h('span', { class: cls }, icon(KIND_ICON[kind] ?? 'unknown'));
}

function callStateLabel(c) {
  if (c.state === 'connected') return t('call.connected');
  if (c.state === 'ended') return t('call.ended');
  return t(`call.${c.direction}.${c.state}`) === `call.${c.direction}.${c.state}`
    ? (c.direction === 'outbound' ? t('call.outbound.dialing') : t('call.inbound.ringing'))
    : t(`call.${c.direction}.${c.state}`);
}

function number(c) {
  return c.remote?.e164 || c.remote?.raw || '';
}

function callCard(c) {
  const matches = c.matches ?? [];
  const kind = c.remote?.kind;
  const card = h('article', {
    class: `card call call-${c.state}`, testid: 'active-call',
    dataset: { callId: c.id, state: c.state, direction: c.direction },
  });
  const head = h('div', { class: 'call-head' },
    h('span', { class: `dir dir-${c.direction}` }, icon(c.direction === 'outbound' ? 'outbound' : c.direction === 'internal' ? 'internal' : 'inbound')),
    h('span', { class: 'call-state', testid: 'call-state' }, callStateLabel(c)),
    c.group ? h('span', { class: 'badge', testid: 'call-group' }, t('call.via_group', { group: c.group })) : null,
    h('span', { class: 'timer', dataset: { since: c.started_at ?? '' } }, elapsed(c.started_at)));
  card.append(head);

  if (kind === 'suppressed') {
    card.append(h('div', { class: 'caller', testid: 'suppressed' }, h('span', { class: 'avatar avatar-unknown' }, icon('suppressed')),
      h('div', { class: 'caller-main' }, h('div', { class: 'caller-name' }, t('call.suppressed')))));
  } else if (kind === 'internal') {
    card.append(h('div', { class: 'caller', testid: 'internal-caller' }, avatar(null),
      h('div', { class: 'caller-main' },
        h('div', { class: 'caller-name', testid: 'caller-name' }, c.remote?.name || c.remote?.raw || ''),
        h('div', { class: 'caller-sub' }, `${t('call.internal')} · `, h('span', { testid: 'remote-number' }, c.remote?.raw ?? '')))));
  } else if (matches.length === 0) {
    card.append(h('div', { class: 'caller', testid: 'unknown-caller' }, avatar(null),
      h('div', { class: 'caller-main' },
        h('div', { class: 'caller-name' }, kind === 'invalid' ? t('call.invalid') : t('call.unknown')),
        h('div', { class: 'caller-number', testid: 'remote-number' }, number(c)),
        c.remote?.name ? h('div', { class: 'caller-sub', testid: 'pbx-name' }, c.remote.name) : null)));
    if (kind === 'external') {
      card.append(h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn btn-neutral btn-sm', testid: 'new-contact', onclick: () => newRecord(c, 'Contact') }, t('new.contact')),
        h('button', { type: 'button', class: 'btn btn-neutral btn-sm', testid: 'new-lead', onclick: () => newRecord(c, 'Lead') }, t('new.lead'))));
    }
  } else if (matches.length === 1) {
    card.append(matchDetail(c, matches[0]));
  } else {
    card.append(h('div', { class: 'multi-head' },
      h('div', { class: 'caller-number', testid: 'remote-number' }, number(c)),
      h('div', { class: 'weak', testid: 'match-count' }, t('call.matches', { n: matches.length }))));
    card.append(h('ul', { class: 'match-list', testid: 'match-list', 'aria-label': t('call.choose') },
      matches.map((m) => matchItem(c, m))));
  }
  if (c.state === 'connected' && kind !== 'internal') card.append(notesForm(c));
  return card;
}

function notesForm(c) {
  const n = notesOf(c.id);
  const area = h('textarea', {
    class: 'input notes-input', rows: 3, testid: 'notes', placeholder: t('notes.placeholder'),
    dataset: { notesFor: c.id }, 'aria-label': t('notes.label'), maxlength: 32000,
    oninput: (ev) => { n.notes = ev.target.value; },
  });
  area.value = n.notes;
  const select = h('select', {
    class: 'input notes-result', testid: 'call-result', 'aria-label': t('notes.result'),
    onchange: (ev) => { n.result = ev.target.value; },
  }, h('option', { value: '' }, t('notes.result.none')),
  RESULTS.map((r) => h('option', { value: r }, t(`result.${r}`))));
  select.value = n.result;
  return h('form', {
    class: 'notes', testid: 'notes-form', dataset: { callId: c.id },
    onsubmit: (ev) => { ev.preventDefault(); saveNotes(c); },
  },
  area,
  h('div', { class: 'notes-row' }, select,
    h('button', { type: 'submit', class: 'btn btn-brand btn-sm', testid: 'save-notes', disabled: n.status?.kind === 'saving' }, t('notes.save'))),
  n.status ? h('p', { class: `fine notes-status notes-${n.status.kind}`, testid: 'notes-status', role: n.status.kind === 'failed' ? 'alert' : 'status' }, n.status.text) : null);
}

function todayList() {
  const list = state.today;
  if (!list) return null;
  const label = (x) => x.subject || x.remote || x.call_id;
  return h('section', { class: 'today', testid: 'today' },
    h('h3', { class: 'section-title' }, t('today.title')),
    list.length === 0 ? h('p', { class: 'weak' }, t('today.empty'))
      : h('ul', { class: 'today-list' }, list.map((x) => h('li', { class: 'today-item', testid: 'today-item', dataset: { callId: x.call_id, state: x.state } },
        h('span', { class: 'today-main' },
          h('span', { class: 'today-subject' }, label(x)),
          h('span', { class: 'today-sub' }, x.started_at ? new Date(x.started_at).toLocaleTimeString(LANG, { hour: 'numeric', minute: '2-digit' }) : '')),
        h('span', { class: `log log-${x.state}`, testid: 'log-state', title: x.error ?? '' }, t(`log.${x.state}`)),
        x.task_id ? h('button', { type: 'button', class: 'link', testid: 'open-task', onclick: () => host.openRecord(x.task_id).catch(() => {}) }, t('log.open')) : null,
        x.state === 'failed' ? h('button', { type: 'button', class: 'link', testid: 'retry-log', onclick: () => retryLog(x.call_id) }, t('log.retry')) : null))));
}

function matchDetail(c, m) {
  const opened = state.opened.get(c.id) === m.id;
  const wrap = h('div', { class: 'match-detail', testid: 'caller-card', dataset: { recordId: m.id, object: m.object } });
  wrap.append(h('div', { class: 'caller' }, avatar(m.object),
    h('div', { class: 'caller-main' },
      h('button', { type: 'button', class: 'link caller-name', testid: 'caller-name', title: t('call.open'), onclick: () => openRecord(c, m.id) }, m.name),
      h('div', { class: 'caller-sub' }, objectLabel(m.object),
        m.strength === 'switchboard' ? h('span', { class: 'badge badge-weak' }, t('call.switchboard')) : null))));
  const fields = (m.fields ?? []).filter((f) => f && f.value !== null && f.value !== undefined && f.value !== '');
  if (fields.length) {
    wrap.append(h('dl', { class: 'fields', testid: 'caller-fields' },
      fields.map((f) => [h('dt', {}, f.label), h('dd', {}, f.value)])));
  } else {
    wrap.append(h('div', { class: 'caller-number', testid: 'remote-number' }, number(c)));
  }
  wrap.append(h('div', { class: 'actions' },
    opened
      ? h('span', { class: 'opened', testid: 'record-opened' }, icon('check', 'icon icon-sm'), t('call.opened'))
      : h('button', { type: 'button', class: 'btn btn-neutral btn-sm', testid: 'open-record', onclick: () => openRecord(c, m.id) }, t('call.open'))));
  return wrap;
}

function matchItem(c, m) {
  const opened = state.opened.get(c.id) === m.id;
  const sub = (m.fields ?? []).filter((f) => f?.value).slice(0, 2).map((f) => f.value).join(' · ');
  return h('li', {},
    h('button', {
      type: 'button', class: `match-item${opened ? ' is-opened' : ''}`, testid: 'match-item',
      dataset: { recordId: m.id, object: m.object }, onclick: () => openRecord(c, m.id),
    },
    avatar(m.object),
    h('span', { class: 'match-text' },
      h('span', { class: 'match-name' }, m.name),
      h('span', { class: 'match-sub' }, objectLabel(m.object), sub ? ` · ${sub}` : '',
        m.strength === 'switchboard' ? h('span', { class: 'badge badge-weak' }, t('call.switchboard')) : null)),
    opened ? icon('check', 'icon icon-sm match-check') : null));
}

function lastCall(c) {
  const m = c.matches?.[0];
  const who = c.remote?.kind === 'suppressed' ? t('call.suppressed')
    : c.matches?.length === 1 ? m.name
    : c.matches?.length > 1 ? number(c)
    : c.remote?.name || number(c) || t('call.unknown');
  const outcome = c.outcome ?? 'none';
  const time = c.started_at ? new Date(c.started_at).toLocaleTimeString(LANG, { hour: 'numeric', minute: '2-digit' }) : '';
  const several = c.matches?.length > 1 ? t('call.matches', { n: c.matches.length }) : '';
  const dur = c.ended_at && c.started_at ? duration((Date.parse(c.ended_at) - Date.parse(c.started_at)) / 1000) : '';
  return h('section', { class: 'last', testid: 'last-call', dataset: { callId: c.id, outcome } },
    h('h3', { class: 'section-title' }, t('call.last')),
    h('div', { class: 'last-row' },
      h('span', { class: `dir dir-sm dir-${c.direction}` }, icon(c.direction === 'outbound' ? 'outbound' : c.direction === 'internal' ? 'internal' : 'inbound')),
      h('span', { class: 'last-main' },
        c.matches?.length === 1
          ? h('button', { type: 'button', class: 'link last-who', testid: 'last-call-name', onclick: () => openRecord(c, m.id) }, who)
          : h('span', { class: 'last-who', testid: 'last-call-name' }, who),
        h('span', { class: 'last-sub' }, [several || t(`dir.${c.direction}`), time, dur].filter(Boolean).join(' · '))),
      h('span', { class: `outcome outcome-${outcome}`, testid: 'last-call-outcome' }, t(`outcome.${outcome}`))),
    c.remote?.kind !== 'internal' ? notesForm(c) : null);
}

function credentialsCard() {
  const uci = state.me?.uci;
  const cred = state.credentials;
  const failed = uci?.state === 'failed' && !cred.editing;
  const login = h('input', { class: 'input', id: 'cred-login', name: 'login', testid: 'cred-login', autocomplete: 'username', required: true, value: state.me?.user?.starface_login ?? '' });
  const password = h('input', { class: 'input', id: 'cred-password', name: 'password', type: 'password', testid: 'cred-password', autocomplete: 'current-password', required: true });
  const form = h('form', {
    class: 'card form', testid: 'credentials-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      saveCredentials(login.value.trim(), password.value);
    },
  },
  h('h2', { class: 'card-title' }, icon('phone', 'icon icon-title'), t('cred.title')),
  h('p', { class: failed ? 'form-error' : 'weak', testid: 'cred-intro' }, failed ? t('cred.failed_plain') : t('cred.missing')),
  failed && uci.detail ? h('p', { class: 'fine', testid: 'cred-detail' }, uci.detail) : null,
  h('label', { class: 'field' }, h('span', { class: 'label' }, t('cred.login')), login),
  h('label', { class: 'field' }, h('span', { class: 'label' }, t('cred.password')), password),
  cred.error ? h('p', { class: 'form-error', role: 'alert', testid: 'cred-error' }, cred.error) : null,
  h('div', { class: 'form-actions' },
    cred.editing ? h('button', { type: 'button', class: 'btn btn-neutral', onclick: () => { state.credentials = { busy: false, error: null, editing: false }; state.view = 'settings'; render(); } }, t('cred.cancel')) : null,
    h('button', { type: 'submit', class: 'btn btn-brand', testid: 'cred-submit', disabled: cred.busy }, cred.busy ? t('cred.saving') : t('cred.save'))),
  h('p', { class: 'fine' }, t('cred.note')));
  return form;
}

function toggle(key) {
  const id = `set-${key}`;
  const input = h('input', {
    type: 'checkbox', id, class: 'toggle-input', testid: `setting-${key}`,
    onchange: (ev) => saveSetting(key, ev.target.checked),
  });
  input.checked = !!state.me?.settings?.[key];
  return h('div', { class: 'toggle-row' },
    h('label', { class: 'toggle', for: id },
      h('span', { class: 'toggle-text' },
        h('span', { class: 'toggle-label' }, t(`set.${key}`)),
        h('span', { class: 'toggle-help' }, t(`set.${key}.help`))),
      input,
      h('span', { class: 'toggle-faux', 'aria-hidden': 'true' })));
}

function phonePicker() {
  const p = state.phones;
  if (!p) {
    loadPhones();
    return null;
  }
  if (!p.phones?.length) return h('p', { class: 'fine', testid: 'phone-none' }, t('set.phone_id.none'));
  const select = h('select', {
    class: 'input', id: 'set-phone', testid: 'setting-phone_id',
    onchange: (ev) => saveSetting('phone_id', ev.target.value),
  }, h('option', { value: '' }, t('set.phone_id.primary', { phone: p.primary ?? '' })),
  p.phones.map((id) => h('option', { value: id }, id)));
  select.value = state.me?.settings?.phone_id ?? '';
  return h('label', { class: 'field' }, h('span', { class: 'label' }, t('set.phone_id')), select);
}

function settingsView() {
  const u = state.me?.user ?? {};
  const st = state.settingsStatus;
  const uci = state.me?.uci?.state ?? 'unknown';
  return h('div', { class: 'settings', testid: 'settings-view' },
    h('section', { class: 'card' },
      h('h2', { class: 'card-title' }, t('set.title'),
        st ? h('span', { class: `save-state save-${st.kind}`, testid: 'settings-status', dataset: { kind: st.kind } }, st.text) : null),
      ['auto_open_record', 'create_unknown_inbound', 'create_unknown_outbound'].map(toggle),
      phonePicker()),
    h('section', { class: 'card' },
      h('h2', { class: 'card-title' }, t('set.account')),
      h('dl', { class: 'fields' },
        h('dt', {}, t('set.salesforce_user')), h('dd', {}, u.name ?? ''),
        h('dt', {}, t('set.email')), h('dd', {}, u.email ?? ''),
        h('dt', {}, t('set.starface_user')), h('dd', {}, u.starface_login ?? '–'),
        h('dt', {}, t('set.phone')), h('dd', { testid: 'settings-uci' }, t(`uci.${uci}`) || uci)),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn btn-neutral', testid: 'change-credentials', onclick: () => { state.credentials = { busy: false, error: null, editing: true }; state.view = 'credentials'; render(); } }, t('cred.change')),
        h('button', { type: 'button', class: 'btn btn-neutral btn-danger', testid: 'sign-out', onclick: signOut }, t('signout')))));
}

// ---------------------------------------------------------------------------------------------
// Time.

function elapsed(since) {
  const t0 = Date.parse(since ?? '');
  if (Number.isNaN(t0)) return '';
  return duration(Math.max(0, (Date.now() - t0) / 1000));
}

function duration(seconds) {
  const s = Math.floor(seconds);
  const m = Math.floor(s / 60);
  const hh = Math.floor(m / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

setInterval(() => {
  for (const el of document.querySelectorAll('.timer[data-since]')) el.textContent = elapsed(el.dataset.since);
}, 1000);

// ---------------------------------------------------------------------------------------------

document.documentElement.lang = LANG;
document.title = 'ctibridge';
$('btn-settings').addEventListener('click', () => {
  state.view = 'settings';
  state.settingsStatus = null;
  state.phones = null;
  render();
});
$('btn-back').addEventListener('click', () => {
  state.credentials = { busy: false, error: null, editing: false };
  state.view = 'main';
  render();
});
render();
boot();
