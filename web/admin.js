// ctibridge admin UI: plain JS, no build step. Served with a CSP that forbids inline script
// and inline style, so everything here attaches listeners and uses classes.
'use strict';

const LANG = (navigator.languages || [navigator.language || 'en'])
  .some((l) => String(l).toLowerCase().startsWith('de')) ? 'de' : 'en';

const TEXT = {
  en: {
    title: 'Administration', logout: 'Sign out',
    'nav.status': 'Status', 'nav.users': 'Users', 'nav.instances': 'Instances', 'nav.doctor': 'Doctor', 'nav.log': 'Log',
    'login.title': 'Sign in', 'login.user': 'Login', 'login.password': 'Password', 'login.submit': 'Sign in',
    'login.help': 'Sign in with a STARFACE administrator account, or as "admin" with the local admin password printed at first start.',
    'doctor.run': 'Run checks', 'doctor.help': 'Checks every link ctibridge depends on and names each failure with its fix.',
    'doctor.running': 'Running checks…', 'doctor.summary': '{ok} ok, {warn} warnings, {fail} failures',
    'log.level': 'Log level (takes effect at once)', 'log.filter': 'Show', 'log.all': 'all lines',
    'log.refresh': 'Refresh', 'log.download': 'Download', 'log.file': 'File {file}, newest line last',
    'log.levelset': 'Log level is now {level}.', 'log.none': 'No log lines yet.',
    signedin: 'Signed in as {user}', via_starface: 'STARFACE', via_local: 'local admin',
    'status.pbx': 'STARFACE', 'status.url': 'URL', 'status.admin': 'Admin account', 'status.link': 'Link',
    'status.users': 'Users / groups', 'status.checked': 'Checked', 'status.sf': 'Salesforce link',
    'status.api': 'API usage (Sforce-Limit-Info)', 'status.records': 'Records read', 'status.numbers': 'Numbers indexed',
    'status.unreadable': 'unreadable phone values', 'status.lastread': 'Last full read', 'status.uci': 'UCI sessions',
    'status.started': 'Started', 'status.version': 'Version', 'status.loglevel': 'Log level', 'status.sync': 'Sync',
    'users.instance': 'Instance', 'users.sf': 'STARFACE user', 'users.email': 'E-mail', 'users.sfuser': 'Salesforce user',
    'users.uci': 'UCI session', 'users.panel': 'Panel', 'users.online': '{n} open', 'users.offline': 'offline', 'users.lastcall': 'Last call',
    'users.none': 'No STARFACE users in scope yet (the PBX directory or the org may not have been read).',
    'users.mismatch': '{n} user(s) without a matching Salesforce user: the panel cannot pop for them.',
    'users.faq': 'Fix (manual FAQ): the STARFACE user and the Salesforce user must have the same e-mail address (case does not matter). Change one of them, then wait for the next directory read (5 minutes) or restart ctibridge. Where that is not possible, use "Link by hand".',
    'inst.source.config': 'These instances come from the configuration file. Saving here stores them in ctibridge\'s database, which is used from then on (the file stays the bootstrap).',
    'inst.source.store': 'These instances are stored in ctibridge\'s database (edited here); the [[instance]] sections of the configuration file are no longer used.',
    'inst.restart': 'Saved. Instance changes take effect after ctibridge is restarted.',
    'inst.imported_left': 'Contact import is off for "{name}", but {n} contacts ctibridge created are still in the STARFACE address book.',
    'inst.remove_imported': 'Remove them', 'inst.confirm_remove_imported': 'Delete the {n} contacts ctibridge created for "{name}" from the STARFACE address book? Contacts without the Salesforce tag stay.',
    'inst.removed_imported': '{n} contacts removed from the STARFACE address book.',
    'inst.new': 'New instance', 'inst.edit': 'Edit', 'inst.save': 'Save', 'inst.test': 'Test connection', 'inst.delete': 'Delete', 'inst.cancel': 'Cancel',
    'inst.name': 'Name (unique)', 'inst.description': 'Description', 'inst.enabled': 'Enabled',
    'inst.login_url': 'Salesforce login URL (the org\'s My Domain, e.g. https://acme.my.salesforce.com)',
    'inst.client_id': 'Consumer key', 'inst.client_secret': 'Consumer secret', 'inst.secret_kept': 'saved; leave empty to keep it',
    'inst.users': 'STARFACE users', 'inst.groups': 'STARFACE groups', 'inst.other_users': 'Other users (e-mail or login id, comma separated)',
    'inst.import': 'Import Salesforce contacts into the STARFACE address book', 'inst.interval': 'Sync interval (seconds)',
    'inst.ws': 'Whitespace at the start or end will be removed (pasted keys often carry it: manual FAQ "API keys do not work").',
    'inst.trimmed_id': 'Whitespace was removed around the consumer key.', 'inst.trimmed_secret': 'Whitespace was removed around the consumer secret.',
    'inst.url_fixed': 'The login URL was changed to {url}:', 'inst.testing': 'Requesting a token…',
    'inst.ok': 'Connection works: {detail}', 'inst.fail': 'Connection failed: {detail}',
    'inst.confirm_delete': 'Delete the instance "{name}"? This applies after a restart.', 'inst.pbx_unread': 'The PBX directory has not been read yet; type users and groups by hand.',
    'inst.none': 'No instances yet.', 'inst.saved': 'Saved "{name}".',
    'sync.every': 'every {n} s', 'sync.last': 'last cycle {at}', 'sync.paused': 'Paused since {since}:',
    'sync.object': 'Object', 'sync.records': 'Records', 'sync.progress': 'Full sync progress', 'sync.full': 'Last full sync', 'sync.incremental': 'Last change read',
    'sync.export': 'Address book export (tag {tag}): {n} contacts on the PBX; since start {c} created, {u} changed, {d} deleted; last {at}',
    'inst.url_col': 'Login URL',
    'inst.forget': 'Use the configuration file\'s instances again', 'inst.confirm_forget': 'Drop the instances saved here and use the configuration file\'s [[instance]] sections again (after a restart)?',
    'status.outbox': 'Salesforce writes (outbox)', 'outbox.counts': '{pending} waiting, {in_flight} in flight, {done} written, {failed} failed',
    'outbox.attempts': '{n} attempts', 'outbox.retry': 'Retry',
    'nav.cards': 'Caller cards',
    'cards.help': 'Which fields the panel shows for a caller, in which order and under which label, per object; custom fields too. Saved at once: the cards change now, fields the cache does not hold yet appear after the next sync has read them.',
    'cards.object': 'Fields shown for {object}', 'cards.add': 'Add field', 'cards.pick': '– choose a field –', 'cards.up': 'Move up', 'cards.down': 'Move down', 'cards.remove': 'Remove',
    'cards.label': 'Label', 'cards.default': 'Default fields', 'cards.loading_fields': 'Reading the fields from the org…', 'cards.no_fields': 'The org\'s fields could not be read: {msg}',
    'cards.priority': 'Object priority when a number matches several records', 'cards.cap': 'Daily API cap for the background sync (empty: none)',
    'cards.cap_help': 'The sync pauses when the org\'s used API requests (Sforce-Limit-Info) reach this number; call logging and user actions go on.',
    'cards.usage': 'Used now: {used} of {limit}', 'cards.save': 'Save', 'cards.saved': 'Saved for "{name}". Cards and priority apply now; new fields after the next sync.',
    'cards.calls': 'Calls logged as Tasks (change on the Instances page)', 'cards.none': 'No running instance.',
    'calls.inbound': 'answered inbound calls', 'calls.outbound': 'outbound calls', 'calls.missed': 'missed calls', 'calls.internal': 'internal calls',
    'calls.group': 'Missed group calls', 'calls.group.group': 'one Task for the group', 'calls.group.each': 'one Task per member who rang', 'calls.group.none': 'none',
    'calls.unknown': 'Record created for an unknown caller', 'calls.title': 'Calls logged as Tasks',
    'users.link': 'Link', 'users.manual': 'manual', 'users.by_email': 'e-mail', 'users.link_by_hand': 'Link by hand', 'users.unlink': 'Remove link',
    'users.pick': '– Salesforce user –', 'users.link_save': 'Link', 'users.link_help': 'Links this STARFACE user to a Salesforce user although their e-mail addresses differ.',
    'status.cap': 'daily cap for the sync: {cap}', 'users.set_password': 'Set STARFACE password', 'users.password': 'STARFACE password of {login}',
    'users.password_help': 'For the user\'s UCI session (call events), as the panel asks it; checked with STARFACE, stored only as SHA-512, encrypted.',
    'users.password_saved': 'The STARFACE password of {login} is stored; the UCI session starts.',
    'users.linked': '{login} is linked to {name} by hand.', 'users.unlinked': 'The manual link of {login} was removed; the e-mail match applies again.',
    yes: 'yes', no: 'no', loading: 'loading…', error: 'Error: {msg}',
  },
  de: {
    title: 'Verwaltung', logout: 'Abmelden',
    'nav.status': 'Status', 'nav.users': 'Benutzer', 'nav.instances': 'Instanzen', 'nav.doctor': 'Diagnose', 'nav.log': 'Protokoll',
    'login.title': 'Anmelden', 'login.user': 'Login', 'login.password': 'Passwort', 'login.submit': 'Anmelden',
    'login.help': 'Melde dich mit einem STARFACE-Administratorkonto an oder als „admin“ mit dem lokalen Admin-Passwort, das beim ersten Start ausgegeben wurde.',
    'doctor.run': 'Prüfen', 'doctor.help': 'Prüft jede Verbindung, von der ctibridge abhängt, und nennt jeden Fehler mit seiner Lösung.',
    'doctor.running': 'Prüfe…', 'doctor.summary': '{ok} in Ordnung, {warn} Warnungen, {fail} Fehler',
    'log.level': 'Protokollstufe (wirkt sofort)', 'log.filter': 'Zeigen', 'log.all': 'alle Zeilen',
    'log.refresh': 'Aktualisieren', 'log.download': 'Herunterladen', 'log.file': 'Datei {file}, neueste Zeile unten',
    'log.levelset': 'Protokollstufe ist jetzt {level}.', 'log.none': 'Noch keine Protokollzeilen.',
    signedin: 'Angemeldet als {user}', via_starface: 'STARFACE', via_local: 'lokaler Admin',
    'status.pbx': 'STARFACE', 'status.url': 'URL', 'status.admin': 'Admin-Konto', 'status.link': 'Verbindung',
    'status.users': 'Benutzer / Gruppen', 'status.checked': 'Geprüft', 'status.sf': 'Salesforce-Verbindung',
    'status.api': 'API-Verbrauch (Sforce-Limit-Info)', 'status.records': 'Gelesene Datensätze', 'status.numbers': 'Indizierte Nummern',
    'status.unreadable': 'unlesbare Telefonwerte', 'status.lastread': 'Letztes vollständiges Lesen', 'status.uci': 'UCI-Sitzungen',
    'status.started': 'Gestartet', 'status.version': 'Version', 'status.loglevel': 'Protokollstufe', 'status.sync': 'Synchronisation',
    'users.instance': 'Instanz', 'users.sf': 'STARFACE-Benutzer', 'users.email': 'E-Mail', 'users.sfuser': 'Salesforce-Benutzer',
    'users.uci': 'UCI-Sitzung', 'users.panel': 'Panel', 'users.online': '{n} offen', 'users.offline': 'nicht geöffnet', 'users.lastcall': 'Letzter Anruf',
    'users.none': 'Noch keine STARFACE-Benutzer im Bereich (Telefonanlage oder Org evtl. noch nicht gelesen).',
    'users.mismatch': '{n} Benutzer ohne passenden Salesforce-Benutzer: Für sie öffnet sich kein Fenster.',
    'users.faq': 'Lösung (FAQ des Handbuchs): STARFACE-Benutzer und Salesforce-Benutzer müssen dieselbe E-Mail-Adresse haben (Groß-/Kleinschreibung egal). Eine davon ändern, dann auf das nächste Lesen (5 Minuten) warten oder ctibridge neu starten. Wo das nicht geht: „Manuell verknüpfen“.',
    'inst.source.config': 'Diese Instanzen stammen aus der Konfigurationsdatei. Speichern legt sie in der Datenbank von ctibridge ab, die ab dann gilt (die Datei bleibt die Erstkonfiguration).',
    'inst.source.store': 'Diese Instanzen liegen in der Datenbank von ctibridge (hier bearbeitet); die [[instance]]-Abschnitte der Konfigurationsdatei werden nicht mehr verwendet.',
    'inst.restart': 'Gespeichert. Änderungen an Instanzen wirken nach einem Neustart von ctibridge.',
    'inst.imported_left': 'Der Kontaktimport ist für „{name}“ aus, aber {n} von ctibridge angelegte Kontakte sind noch im STARFACE-Adressbuch.',
    'inst.remove_imported': 'Entfernen', 'inst.confirm_remove_imported': 'Die {n} von ctibridge für „{name}“ angelegten Kontakte aus dem STARFACE-Adressbuch löschen? Kontakte ohne das Salesforce-Tag bleiben.',
    'inst.removed_imported': '{n} Kontakte aus dem STARFACE-Adressbuch entfernt.',
    'inst.new': 'Neue Instanz', 'inst.edit': 'Bearbeiten', 'inst.save': 'Speichern', 'inst.test': 'Verbindung testen', 'inst.delete': 'Löschen', 'inst.cancel': 'Abbrechen',
    'inst.name': 'Name (eindeutig)', 'inst.description': 'Beschreibung', 'inst.enabled': 'Aktiv',
    'inst.login_url': 'Salesforce-Login-URL (die My Domain der Org, z. B. https://acme.my.salesforce.com)',
    'inst.client_id': 'Consumer Key (Verbraucherschlüssel)', 'inst.client_secret': 'Consumer Secret (Verbrauchergeheimnis)', 'inst.secret_kept': 'gespeichert; leer lassen, um es zu behalten',
    'inst.users': 'STARFACE-Benutzer', 'inst.groups': 'STARFACE-Gruppen', 'inst.other_users': 'Weitere Benutzer (E-Mail oder Login-ID, durch Komma getrennt)',
    'inst.import': 'Salesforce-Kontakte ins STARFACE-Adressbuch importieren', 'inst.interval': 'Synchronisationsintervall (Sekunden)',
    'inst.ws': 'Leerzeichen am Anfang oder Ende werden entfernt (kopierte Schlüssel enthalten sie oft: FAQ „API-Keys funktionieren nicht“).',
    'inst.trimmed_id': 'Leerzeichen um den Consumer Key wurden entfernt.', 'inst.trimmed_secret': 'Leerzeichen um das Consumer Secret wurden entfernt.',
    'inst.url_fixed': 'Die Login-URL wurde zu {url} geändert:', 'inst.testing': 'Fordere ein Token an…',
    'inst.ok': 'Verbindung funktioniert: {detail}', 'inst.fail': 'Verbindung fehlgeschlagen: {detail}',
    'inst.confirm_delete': 'Instanz „{name}“ löschen? Das wirkt nach einem Neustart.', 'inst.pbx_unread': 'Die Telefonanlage wurde noch nicht gelesen; Benutzer und Gruppen bitte eintippen.',
    'inst.none': 'Noch keine Instanzen.', 'inst.saved': '„{name}“ gespeichert.',
    'sync.every': 'alle {n} s', 'sync.last': 'letzter Durchlauf {at}', 'sync.paused': 'Pausiert seit {since}:',
    'sync.object': 'Objekt', 'sync.records': 'Datensätze', 'sync.progress': 'Fortschritt (vollständig)', 'sync.full': 'Letzte vollständige Synchronisation', 'sync.incremental': 'Letzte Änderungen gelesen',
    'sync.export': 'Adressbuch-Export (Tag {tag}): {n} Kontakte in der Telefonanlage; seit Start {c} angelegt, {u} geändert, {d} gelöscht; zuletzt {at}',
    'inst.url_col': 'Login-URL',
    'inst.forget': 'Wieder die Instanzen der Konfigurationsdatei verwenden', 'inst.confirm_forget': 'Die hier gespeicherten Instanzen verwerfen und wieder die [[instance]]-Abschnitte der Konfigurationsdatei verwenden (nach einem Neustart)?',
    'status.outbox': 'Schreibvorgänge nach Salesforce (Outbox)', 'outbox.counts': '{pending} wartend, {in_flight} in Arbeit, {done} geschrieben, {failed} fehlgeschlagen',
    'outbox.attempts': '{n} Versuche', 'outbox.retry': 'Erneut versuchen',
    'nav.cards': 'Anruferkarten',
    'cards.help': 'Welche Felder das Panel zu einem Anrufer zeigt, in welcher Reihenfolge und mit welcher Bezeichnung, je Objekt; auch benutzerdefinierte Felder. Wirkt beim Speichern: Die Karten ändern sich sofort, Felder, die der Zwischenspeicher noch nicht hat, erscheinen nach der nächsten Synchronisation.',
    'cards.object': 'Felder für {object}', 'cards.add': 'Feld hinzufügen', 'cards.pick': '– Feld wählen –', 'cards.up': 'Nach oben', 'cards.down': 'Nach unten', 'cards.remove': 'Entfernen',
    'cards.label': 'Bezeichnung', 'cards.default': 'Standardfelder', 'cards.loading_fields': 'Lese die Felder aus der Org…', 'cards.no_fields': 'Die Felder der Org konnten nicht gelesen werden: {msg}',
    'cards.priority': 'Objekt-Priorität, wenn eine Nummer zu mehreren Datensätzen passt', 'cards.cap': 'Tägliche API-Obergrenze für die Hintergrund-Synchronisation (leer: keine)',
    'cards.cap_help': 'Die Synchronisation pausiert, sobald die verbrauchten API-Anfragen der Org (Sforce-Limit-Info) diese Zahl erreichen; Anrufprotokolle und Benutzeraktionen laufen weiter.',
    'cards.usage': 'Aktuell verbraucht: {used} von {limit}', 'cards.save': 'Speichern', 'cards.saved': 'Für „{name}“ gespeichert. Karten und Priorität wirken sofort, neue Felder nach der nächsten Synchronisation.',
    'cards.calls': 'Als Aufgabe protokollierte Anrufe (änderbar auf der Seite Instanzen)', 'cards.none': 'Keine laufende Instanz.',
    'calls.inbound': 'angenommene eingehende Anrufe', 'calls.outbound': 'ausgehende Anrufe', 'calls.missed': 'verpasste Anrufe', 'calls.internal': 'interne Anrufe',
    'calls.group': 'Verpasste Gruppenanrufe', 'calls.group.group': 'eine Aufgabe für die Gruppe', 'calls.group.each': 'eine Aufgabe je klingelndem Mitglied', 'calls.group.none': 'keine',
    'calls.unknown': 'Datensatz für unbekannte Anrufer', 'calls.title': 'Als Aufgabe protokollierte Anrufe',
    'users.link': 'Verknüpfung', 'users.manual': 'manuell', 'users.by_email': 'E-Mail', 'users.link_by_hand': 'Manuell verknüpfen', 'users.unlink': 'Verknüpfung entfernen',
    'users.pick': '– Salesforce-Benutzer –', 'users.link_save': 'Verknüpfen', 'users.link_help': 'Verknüpft diesen STARFACE-Benutzer mit einem Salesforce-Benutzer, obwohl die E-Mail-Adressen verschieden sind.',
    'status.cap': 'Tagesobergrenze der Synchronisation: {cap}', 'users.set_password': 'STARFACE-Passwort setzen', 'users.password': 'STARFACE-Passwort von {login}',
    'users.password_help': 'Für die UCI-Sitzung des Benutzers (Anrufereignisse), wie sie das Panel abfragt; wird bei STARFACE geprüft und nur als SHA-512 verschlüsselt gespeichert.',
    'users.password_saved': 'Das STARFACE-Passwort von {login} ist gespeichert; die UCI-Sitzung startet.',
    'users.linked': '{login} ist jetzt manuell mit {name} verknüpft.', 'users.unlinked': 'Die manuelle Verknüpfung von {login} wurde entfernt; es gilt wieder der E-Mail-Abgleich.',
    yes: 'ja', no: 'nein', loading: 'lädt…', error: 'Fehler: {msg}',
  },
};

function t(key, vars) {
  let s = (TEXT[LANG] && TEXT[LANG][key]) || TEXT.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(String(v));
  return s;
}
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const $ = (id) => document.getElementById(id);
const when = (iso) => (iso ? new Date(iso).toLocaleString(LANG) : '–');
const pill = (state, label) => `<span class="pill ${esc(state)}">${esc(label ?? state)}</span>`;
const link = (l) => {
  const st = (l && l.state) || 'connecting';
  return pill(st) + (l && l.detail ? ` <span class="problem">${esc(l.detail)}</span>` : '');
};

let session = null;
let current = 'status';
let timer = null;

class ApiError extends Error {
  constructor(status, body) { super((body && body.message) || `HTTP ${status}`); this.status = status; this.body = body; }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session && method !== 'GET') headers['X-CSRF-Token'] = session.csrf;
  const resp = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (resp.status === 401) { showLogin(); throw new ApiError(401, data); }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

function banner(text, kind) {
  const b = $('banner');
  b.textContent = text || '';
  b.className = `banner ${kind || ''}`;
  b.hidden = !text;
}

function translateStatic() {
  document.documentElement.lang = LANG;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}

function showLogin() {
  session = null;
  clearInterval(timer);
  $('nav').hidden = true; $('logout').hidden = true; $('who').textContent = '';
  for (const p of document.querySelectorAll('.page')) p.hidden = true;
  $('login-page').hidden = false;
  $('login-user').focus();
}

function signedIn(s) {
  session = s;
  $('login-page').hidden = true;
  $('nav').hidden = false; $('logout').hidden = false;
  $('who').textContent = `${t('signedin', { user: s.user })} (${t(s.method === 'local' ? 'via_local' : 'via_starface')})`;
  route();
}

function route() {
  if (!session) return;
  const page = (location.hash || '#status').slice(1);
  current = ['status', 'users', 'instances', 'cards', 'doctor', 'log'].includes(page) ? page : 'status';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === current);
  for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== `page-${current}`;
  banner('');
  linking = false;
  clearInterval(timer);
  const loaders = { status: loadStatus, users: loadUsers, instances: loadInstances, cards: loadCards, doctor: async () => {}, log: loadLog };
  loaders[current]().catch(showError);
  if (current === 'status' || current === 'users') {
    timer = setInterval(() => loaders[current]().catch(showError), 5000);
  }
}

function showError(e) {
  if (e instanceof ApiError && e.status === 401) return;
  banner(t('error', { msg: e.message }), 'error');
}

// ---- Status ------------------------------------------------------------------------------

async function loadStatus() {
  const d = await api('GET', '/admin/api/status');
  const s = d.system;
  const sf = s.starface;
  let html = `<h2>${esc(t('nav.status'))}</h2><div class="kv">
    <span class="muted">${esc(t('status.version'))}</span><span>${esc(s.version)}</span>
    <span class="muted">${esc(t('status.started'))}</span><span>${esc(when(s.started_at))}</span>
    <span class="muted">${esc(t('status.loglevel'))}</span><span>${esc(d.log_level ?? '–')}</span>
    <span class="muted">${esc(t('status.uci'))}</span><span id="uci-count">${esc(d.uci_sessions)}</span></div>`;
  if (d.restart_pending) html += `<p class="banner">${esc(t('inst.restart'))}</p>`;
  html += `<section id="status-starface"><h2>${esc(t('status.pbx'))}</h2><div class="kv">
    <span class="muted">${esc(t('status.url'))}</span><span>${esc(sf.url)}</span>
    <span class="muted">${esc(t('status.admin'))}</span><span>${esc(sf.admin_login)}</span>
    <span class="muted">${esc(t('status.link'))}</span><span>${link(sf.state)}</span>
    <span class="muted">${esc(t('status.users'))}</span><span>${esc(sf.users)} / ${esc(sf.groups)}</span>
    <span class="muted">${esc(t('status.checked'))}</span><span>${esc(when(sf.checked_at))}</span></div></section>`;
  for (const i of s.instances) {
    let usage = i.api_usage ? `${i.api_usage.used} / ${i.api_usage.limit} (${Math.round((100 * i.api_usage.used) / Math.max(1, i.api_usage.limit))} %)` : '–';
    const cap = (d.api_caps || {})[i.name];
    if (cap != null) usage += `; ${t('status.cap', { cap })}`;
    const records = Object.entries(i.records || {}).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join(', ') || '–';
    const sync = syncHtml(i.sync);
    html += `<section class="status-instance" data-instance="${esc(i.name)}"><h2>${esc(i.name)} <span class="muted">${esc(i.description)}</span></h2><div class="kv">
      <span class="muted">${esc(t('status.url'))}</span><span>${esc(i.login_url)}</span>
      <span class="muted">${esc(t('status.sf'))}</span><span>${link(i.salesforce)}</span>
      <span class="muted">${esc(t('status.api'))}</span><span class="api-usage">${esc(usage)}</span>
      <span class="muted">${esc(t('status.records'))}</span><span>${records}</span>
      <span class="muted">${esc(t('status.numbers'))}</span><span>${esc(i.numbers_indexed)} <span class="muted">(${esc(i.numbers_unreadable)} ${esc(t('status.unreadable'))})</span></span>
      <span class="muted">${esc(t('status.lastread'))}</span><span>${esc(when(i.last_full_read))}</span>${sync}${outboxHtml((d.outbox || {})[i.name])}</div>
      ${usersTable(d.users.filter((u) => u.instance === i.name), false)}</section>`;
  }
  $('page-status').innerHTML = html;
  for (const b of document.querySelectorAll('.outbox-retry')) {
    b.addEventListener('click', async () => {
      b.disabled = true;
      try { await api('POST', `/admin/api/outbox/${encodeURIComponent(b.dataset.id)}/retry`); await loadStatus(); } catch (e) { showError(e); }
    });
  }
}

// Salesforce writes waiting in the outbox (call logs, records for unknown callers).
function outboxHtml(o) {
  if (!o) return '';
  let html = `<span class="muted">${esc(t('status.outbox'))}</span><span class="outbox">${esc(t('outbox.counts', o))}`;
  if (o.recent_failures.length) {
    html += `<table><tbody>${o.recent_failures.map((f) => `<tr data-outbox="${esc(f.id)}"><td>${esc(f.kind)}</td><td class="problem">${esc(f.error)}</td>
      <td class="muted">${esc(t('outbox.attempts', { n: f.attempts }))}, ${esc(when(f.at))}</td>
      <td><button class="outbox-retry" data-id="${esc(f.id)}">${esc(t('outbox.retry'))}</button></td></tr>`).join('')}</tbody></table>`;
  }
  return `${html}</span>`;
}

// The sync engine's state (issue "Sync"): each object's position, errors and progress, the
// address-book export and a pause while the org's API allowance is spent.
function syncHtml(sync) {
  if (!sync || typeof sync !== 'object') return '';
  let html = `<span class="muted">${esc(t('status.sync'))}</span><span>`;
  html += `${esc(t('sync.every', { n: sync.interval_secs ?? '–' }))}, ${esc(t('sync.last', { at: when(sync.last_cycle_at) }))}`;
  if (sync.paused) html += `<div class="problem">${esc(t('sync.paused', { since: when(sync.paused.since) }))} ${esc(sync.paused.reason)}</div>`;
  const objects = Object.entries(sync.objects || {});
  if (objects.length) {
    html += `<table class="sync"><thead><tr><th>${esc(t('sync.object'))}</th><th>${esc(t('sync.records'))}</th><th>${esc(t('sync.progress'))}</th><th>${esc(t('sync.full'))}</th><th>${esc(t('sync.incremental'))}</th><th>API</th></tr></thead><tbody>`;
    for (const [name, o] of objects) {
      const p = o.progress ? `${o.progress.done}${o.progress.total != null ? ` / ${o.progress.total}` : ''}` : '–';
      html += `<tr data-object="${esc(name)}"><td>${esc(name)}</td><td>${esc(o.records)}</td><td>${esc(p)}</td><td>${esc(when(o.last_full_sync))}</td><td>${esc(when(o.last_incremental_sync))}</td><td>${esc(o.api_calls)}</td></tr>`;
      if (o.error) html += `<tr><td></td><td colspan="5" class="problem">${esc(o.error)}</td></tr>`;
    }
    html += '</tbody></table>';
  }
  const e = sync.export;
  if (e) {
    html += `<div>${esc(t('sync.export', { tag: e.tag, n: e.contacts_exported ?? '–', c: e.created, u: e.updated, d: e.deleted, at: when(e.last_export_at) }))}</div>`;
    if (e.error) html += `<div class="problem">${esc(e.error)}</div>`;
  }
  return `${html}</span>`;
}

function usersTable(rows, withInstance) {
  if (!rows.length) return `<p class="muted">${esc(t('users.none'))}</p>`;
  const head = `<tr>${withInstance ? `<th>${esc(t('users.instance'))}</th>` : ''}<th>${esc(t('users.sf'))}</th><th>${esc(t('users.email'))}</th><th>${esc(t('users.sfuser'))}</th>${withInstance ? `<th>${esc(t('users.link'))}</th>` : ''}<th>${esc(t('users.uci'))}</th><th>${esc(t('users.panel'))}</th><th>${esc(t('users.lastcall'))}</th></tr>`;
  const body = rows.map((u) => `<tr class="${u.problem ? 'mismatch' : ''}" data-login="${esc(u.starface_login)}">
    ${withInstance ? `<td>${esc(u.instance)}</td>` : ''}
    <td>${esc(u.name)} <span class="muted">${esc(u.starface_login)}</span></td>
    <td>${esc(u.email)}</td>
    <td>${u.salesforce_user_id ? `${esc(u.salesforce_user_name)} <span class="muted">${esc(u.salesforce_user_id)}</span>` : '–'}
      ${u.problem ? `<div class="problem">${esc(u.problem)}</div>` : ''}</td>
    ${withInstance ? `<td class="user-link-cell">${linkCell(u)}</td>` : ''}
    <td class="user-uci-cell">${pill(u.uci.state)}${u.uci.detail ? ` <span class="muted">${esc(u.uci.detail)}</span>` : ''}
      ${withInstance && u.starface_login ? ` <button type="button" class="small user-password" data-instance="${esc(u.instance)}" data-login="${esc(u.starface_login)}">${esc(t('users.set_password'))}</button>` : ''}</td>
    <td>${u.panels_online ? pill('ok', t('users.online', { n: u.panels_online })) : `<span class="muted">${esc(t('users.offline'))}</span>`}</td>
    <td>${u.last_call ? `${esc(when(u.last_call.started_at))} <span class="muted">${esc(u.last_call.direction)}, ${esc(u.last_call.outcome || u.last_call.state)}</span>` : '–'}</td></tr>`).join('');
  return `<table><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

// ---- Users -------------------------------------------------------------------------------

// While the admin picks a user to link, the page's refresh would throw the picker away.
let linking = false;

function linkCell(u) {
  if (u.link === 'manual') {
    return `${pill('info', t('users.manual'))} <button type="button" class="small user-unlink" data-instance="${esc(u.instance)}" data-login="${esc(u.starface_login)}">${esc(t('users.unlink'))}</button>`;
  }
  const how = u.link === 'email' ? `<span class="muted">${esc(t('users.by_email'))}</span>` : '';
  const btn = u.problem && u.starface_login ? ` <button type="button" class="small user-link" data-instance="${esc(u.instance)}" data-login="${esc(u.starface_login)}">${esc(t('users.link_by_hand'))}</button>` : '';
  return how + btn;
}

function wireUserLinks() {
  for (const b of document.querySelectorAll('.user-unlink')) {
    b.addEventListener('click', async () => {
      try {
        await api('DELETE', `/admin/api/users/${encodeURIComponent(b.dataset.instance)}/${encodeURIComponent(b.dataset.login)}/link`);
        await loadUsers(true);
        banner(t('users.unlinked', { login: b.dataset.login }));
      } catch (e) { showError(e); }
    });
  }
  for (const b of document.querySelectorAll('.user-password')) {
    b.addEventListener('click', () => {
      linking = true;
      const cell = b.closest('td');
      const { instance, login } = b.dataset;
      cell.innerHTML = `<label class="hint">${esc(t('users.password', { login }))}<input type="password" class="user-password-input" autocomplete="new-password"></label>
        <div class="hint muted">${esc(t('users.password_help'))}</div>
        <button type="button" class="small brand user-password-save">${esc(t('inst.save'))}</button>
        <button type="button" class="small user-password-cancel">${esc(t('inst.cancel'))}</button><div class="user-password-error problem"></div>`;
      cell.querySelector('.user-password-input').focus();
      cell.querySelector('.user-password-cancel').addEventListener('click', () => { linking = false; loadUsers(true).catch(showError); });
      cell.querySelector('.user-password-save').addEventListener('click', async () => {
        const input = cell.querySelector('.user-password-input');
        try {
          await api('PUT', `/admin/api/users/${encodeURIComponent(instance)}/${encodeURIComponent(login)}/starface-password`, { password: input.value });
          input.value = '';
          linking = false;
          await loadUsers(true);
          banner(t('users.password_saved', { login }));
        } catch (e) { cell.querySelector('.user-password-error').textContent = e.message; }
      });
    });
  }
  for (const b of document.querySelectorAll('.user-link')) {
    b.addEventListener('click', async () => {
      linking = true;
      const cell = b.closest('td');
      const { instance, login } = b.dataset;
      cell.innerHTML = `<span class="muted">${esc(t('loading'))}</span>`;
      try {
        const d = await api('GET', `/admin/api/users/${encodeURIComponent(instance)}/salesforce-users`);
        cell.innerHTML = `<div class="hint muted">${esc(t('users.link_help'))}</div><select class="user-pick"><option value="">${esc(t('users.pick'))}</option>
          ${d.users.map((u) => `<option value="${esc(u.Id)}">${esc(u.Name)}${u.Email ? ` &lt;${esc(u.Email)}&gt;` : ''}</option>`).join('')}</select>
          <button type="button" class="small brand user-link-save">${esc(t('users.link_save'))}</button>
          <button type="button" class="small user-link-cancel">${esc(t('inst.cancel'))}</button><div class="user-link-error problem"></div>`;
        cell.querySelector('.user-link-cancel').addEventListener('click', () => { linking = false; loadUsers(true).catch(showError); });
        cell.querySelector('.user-link-save').addEventListener('click', async () => {
          const sel = cell.querySelector('.user-pick');
          if (!sel.value) return;
          try {
            const r = await api('PUT', `/admin/api/users/${encodeURIComponent(instance)}/${encodeURIComponent(login)}/link`, { salesforce_user_id: sel.value });
            linking = false;
            await loadUsers(true);
            banner(t('users.linked', { login, name: r.salesforce_user_name }));
          } catch (e) { cell.querySelector('.user-link-error').textContent = e.message; }
        });
      } catch (e) { linking = false; showError(e); }
    });
  }
}

async function loadUsers(force) {
  if (linking && !force) return;
  const d = await api('GET', '/admin/api/users');
  const bad = d.users.filter((u) => u.problem).length;
  $('page-users').innerHTML = `<h2>${esc(t('nav.users'))}</h2>
    ${bad ? `<div class="banner error" id="users-mismatch">${esc(t('users.mismatch', { n: bad }))}<div class="fix">${esc(t('users.faq'))}</div></div>` : ''}
    ${usersTable(d.users, true)}`;
  wireUserLinks();
}

// ---- Doctor ------------------------------------------------------------------------------

async function runDoctor() {
  const out = $('doctor-result');
  out.innerHTML = `<p class="muted">${esc(t('doctor.running'))}</p>`;
  $('doctor-run').disabled = true;
  try {
    const r = await api('POST', '/admin/api/doctor');
    const groups = new Map();
    for (const c of r.checks) {
      if (!groups.has(c.group)) groups.set(c.group, []);
      groups.get(c.group).push(c);
    }
    let html = `<p id="doctor-summary">${esc(t('doctor.summary', { ok: r.summary.ok, warn: r.summary.warn, fail: r.summary.fail }))}</p>`;
    for (const [group, checks] of groups) {
      html += `<div class="check-group"><h3>${esc(group)}</h3><table><tbody>${checks.map((c) => `<tr data-check="${esc(c.id)}">
        <td>${pill(c.status)}</td><td><strong>${esc(c.title)}</strong><div>${esc(c.detail)}</div>${c.fix ? `<div class="fix">${esc(c.fix)}</div>` : ''}</td></tr>`).join('')}</tbody></table></div>`;
    }
    out.innerHTML = html;
  } catch (e) {
    out.innerHTML = '';
    showError(e);
  } finally {
    $('doctor-run').disabled = false;
  }
}

// ---- Log ---------------------------------------------------------------------------------

async function loadLog() {
  const level = $('log-filter').value;
  const d = await api('GET', `/admin/api/log?lines=1000${level ? `&level=${encodeURIComponent(level)}` : ''}`);
  $('log-level').value = String(d.level).toUpperCase();
  $('log-info').textContent = d.file ? t('log.file', { file: d.file }) : t('log.none');
  const pre = $('log-lines');
  pre.textContent = d.lines.join('\n');
  pre.scrollTop = pre.scrollHeight;
}

async function setLevel() {
  try {
    const d = await api('PUT', '/admin/api/log/level', { level: $('log-level').value });
    banner(t('log.levelset', { level: d.level }));
    await loadLog();
  } catch (e) { showError(e); }
}

// ---- Instances ---------------------------------------------------------------------------

let instancesData = null;

async function loadInstances(note) {
  instancesData = await api('GET', '/admin/api/instances');
  renderInstances(note);
}

function renderInstances(note) {
  const d = instancesData;
  let html = `<div class="toolbar"><h2>${esc(t('nav.instances'))}</h2><button id="inst-new" class="brand">${esc(t('inst.new'))}</button></div>
    <p class="muted" id="inst-source">${esc(t(`inst.source.${d.source}`))}</p>`;
  if (d.source === 'store') html += `<p><button id="inst-forget" class="danger">${esc(t('inst.forget'))}</button></p>`;
  if (d.restart_pending) html += `<p class="banner" id="inst-restart">${esc(t('inst.restart'))}</p>`;
  for (const [name, n] of Object.entries(d.imported_left || {})) {
    html += `<p class="banner imported-left">${esc(t('inst.imported_left', { name, n }))} <button class="inst-remove-imported danger" data-name="${esc(name)}" data-n="${esc(n)}">${esc(t('inst.remove_imported'))}</button></p>`;
  }
  if (note) html += note;
  if (!d.instances.length) html += `<p class="muted">${esc(t('inst.none'))}</p>`;
  else {
    html += `<table><thead><tr><th>${esc(t('inst.name'))}</th><th>${esc(t('inst.url_col'))}</th><th>${esc(t('inst.users'))}</th><th>${esc(t('inst.enabled'))}</th><th></th></tr></thead><tbody>`;
    d.instances.forEach((i, n) => {
      html += `<tr data-instance="${esc(i.name)}"><td><strong>${esc(i.name)}</strong><div class="muted">${esc(i.description)}</div></td>
        <td>${esc(i.login_url)}</td><td>${esc([...i.users, ...i.groups.map((g) => `[${g}]`)].join(', '))}</td>
        <td>${esc(t(i.enabled ? 'yes' : 'no'))}</td><td><button class="inst-edit" data-index="${n}">${esc(t('inst.edit'))}</button></td></tr>`;
    });
    html += '</tbody></table>';
  }
  html += '<div id="inst-form-host"></div>';
  $('page-instances').innerHTML = html;
  $('inst-new').addEventListener('click', () => editInstance(null));
  if ($('inst-forget')) {
    $('inst-forget').addEventListener('click', async () => {
      if (!window.confirm(t('inst.confirm_forget'))) return;
      try { await api('DELETE', '/admin/api/instances'); await loadInstances(); } catch (e) { showError(e); }
    });
  }
  for (const b of document.querySelectorAll('.inst-edit')) b.addEventListener('click', () => editInstance(d.instances[Number(b.dataset.index)]));
  for (const b of document.querySelectorAll('.inst-remove-imported')) {
    b.addEventListener('click', async () => {
      const { name, n } = b.dataset;
      if (!window.confirm(t('inst.confirm_remove_imported', { name, n }))) return;
      try {
        const r = await api('POST', `/admin/api/instances/${encodeURIComponent(name)}/remove-imported`);
        await loadInstances(`<p class="banner ok">${esc(t('inst.removed_imported', { n: r.removed }))}</p>`);
      } catch (e) { showError(e); }
    });
  }
}

function checkboxes(cls, items, selected) {
  return items.map(([value, label]) => `<label><input type="checkbox" class="${cls}" value="${esc(value)}" ${selected.has(String(value).toLowerCase()) ? 'checked' : ''}> ${esc(label)}</label>`).join('');
}

function editInstance(inst) {
  const d = instancesData;
  const i = inst || { name: '', description: '', enabled: true, login_url: '', client_id: '', has_client_secret: false, users: [], groups: [], import_contacts: false, sync_interval_secs: 60,
    calls: { log_calls: ['inbound', 'outbound', 'missed'], missed_group_calls: 'group', unknown_caller_object: 'Lead' } };
  const calls = i.calls;
  const chosen = new Set(i.users.map((u) => u.toLowerCase()));
  const pbxUsers = d.pbx.users;
  const known = new Set();
  for (const u of pbxUsers) {
    // A user may be named by e-mail or login id; either ticks the box.
    if (chosen.has(String(u.email).toLowerCase()) || chosen.has(String(u.login).toLowerCase())) {
      known.add(String(u.email).toLowerCase()); known.add(String(u.login).toLowerCase());
      chosen.add(String(u.email).toLowerCase());
    }
  }
  const others = i.users.filter((u) => !known.has(u.toLowerCase()));
  const groupsChosen = new Set(i.groups.map((g) => g.toLowerCase()));
  const otherGroups = i.groups.filter((g) => !d.pbx.groups.some((p) => p.toLowerCase() === g.toLowerCase()));
  $('inst-form-host').innerHTML = `<section><h2>${esc(inst ? `${t('inst.edit')}: ${inst.name}` : t('inst.new'))}</h2>
    <form id="inst-form" class="form" novalidate>
      <label>${esc(t('inst.name'))}<input id="f-name" value="${esc(i.name)}" required maxlength="80"></label>
      <label>${esc(t('inst.description'))}<input id="f-description" value="${esc(i.description)}"></label>
      <label class="check"><input type="checkbox" id="f-enabled" ${i.enabled ? 'checked' : ''}> ${esc(t('inst.enabled'))}</label>
      <label>${esc(t('inst.login_url'))}<input id="f-login-url" value="${esc(i.login_url)}" placeholder="https://acme.my.salesforce.com"></label>
      <div id="f-login-url-note" class="hint warning"></div>
      <label>${esc(t('inst.client_id'))}<input id="f-client-id" value="${esc(i.client_id)}" autocomplete="off" spellcheck="false"></label>
      <div id="f-client-id-ws" class="hint warning" hidden>${esc(t('inst.ws'))}</div>
      <label>${esc(t('inst.client_secret'))}<input id="f-client-secret" type="password" autocomplete="new-password" placeholder="${i.has_client_secret ? esc(t('inst.secret_kept')) : ''}"></label>
      <div id="f-client-secret-ws" class="hint warning" hidden>${esc(t('inst.ws'))}</div>
      <div><div class="muted">${esc(t('inst.users'))}</div>
        ${pbxUsers.length ? `<div class="picker" id="f-users">${checkboxes('f-user', pbxUsers.map((u) => [u.email || u.login, `${u.name} (${u.login}${u.email ? `, ${u.email}` : ''})`]), chosen)}</div>` : `<p class="muted">${esc(t('inst.pbx_unread'))}</p>`}</div>
      <label>${esc(t('inst.other_users'))}<input id="f-other-users" value="${esc(others.join(', '))}"></label>
      <div><div class="muted">${esc(t('inst.groups'))}</div>
        ${d.pbx.groups.length ? `<div class="picker" id="f-groups">${checkboxes('f-group', d.pbx.groups.map((g) => [g, g]), groupsChosen)}</div>` : ''}</div>
      ${otherGroups.length || !d.pbx.groups.length ? `<label>${esc(t('inst.groups'))}<input id="f-other-groups" value="${esc(otherGroups.join(', '))}"></label>` : ''}
      <label class="check"><input type="checkbox" id="f-import" ${i.import_contacts ? 'checked' : ''}> ${esc(t('inst.import'))}</label>
      <label>${esc(t('inst.interval'))}<input id="f-interval" type="number" min="1" max="86400" value="${esc(i.sync_interval_secs)}"></label>
      <div><div class="muted">${esc(t('calls.title'))}</div><div class="picker" id="f-calls">
        ${CALL_KINDS.map((k) => `<label><input type="checkbox" class="f-call" value="${k}" ${calls.log_calls.includes(k) ? 'checked' : ''}> ${esc(t(`calls.${k}`))}</label>`).join('')}</div></div>
      <label>${esc(t('calls.group'))}<select id="f-missed-group">${['group', 'each', 'none'].map((g) => `<option value="${g}" ${calls.missed_group_calls === g ? 'selected' : ''}>${esc(t(`calls.group.${g}`))}</option>`).join('')}</select></label>
      <label>${esc(t('calls.unknown'))}<select id="f-unknown-object">${['Lead', 'Contact'].map((o) => `<option ${calls.unknown_caller_object === o ? 'selected' : ''}>${o}</option>`).join('')}</select></label>
      <div class="buttons">
        <button type="submit" class="brand" id="inst-save">${esc(t('inst.save'))}</button>
        <button type="button" id="inst-test">${esc(t('inst.test'))}</button>
        ${inst ? `<button type="button" class="danger" id="inst-delete">${esc(t('inst.delete'))}</button>` : ''}
        <button type="button" id="inst-cancel">${esc(t('inst.cancel'))}</button>
      </div>
      <div id="inst-result" role="status"></div>
    </form></section>`;
  const wsWatch = (input, note) => {
    const check = () => { $(note).hidden = $(input).value === $(input).value.trim() || !$(input).value.trim(); };
    $(input).addEventListener('input', check); check();
  };
  wsWatch('f-client-id', 'f-client-id-ws');
  wsWatch('f-client-secret', 'f-client-secret-ws');
  $('inst-form').addEventListener('submit', (ev) => { ev.preventDefault(); saveInstance(inst); });
  $('inst-test').addEventListener('click', () => testInstance(inst));
  $('inst-cancel').addEventListener('click', () => { $('inst-form-host').innerHTML = ''; });
  if (inst) $('inst-delete').addEventListener('click', () => deleteInstance(inst));
  $('f-name').focus();
}

const splitList = (s) => String(s || '').split(',').map((x) => x.trim()).filter(Boolean);

function formValues() {
  const users = [...document.querySelectorAll('.f-user:checked')].map((c) => c.value).concat(splitList($('f-other-users').value));
  const groups = [...document.querySelectorAll('.f-group:checked')].map((c) => c.value).concat($('f-other-groups') ? splitList($('f-other-groups').value) : []);
  return {
    name: $('f-name').value,
    description: $('f-description').value,
    enabled: $('f-enabled').checked,
    login_url: $('f-login-url').value,
    client_id: $('f-client-id').value,
    client_secret: $('f-client-secret').value,
    users,
    groups,
    import_contacts: $('f-import').checked,
    sync_interval_secs: Number($('f-interval').value) || 60,
    calls: {
      log_calls: [...document.querySelectorAll('.f-call:checked')].map((c) => c.value),
      missed_group_calls: $('f-missed-group').value,
      unknown_caller_object: $('f-unknown-object').value,
    },
  };
}

function repairsHtml(r) {
  if (!r) return '';
  let html = '';
  if (r.login_url) html += `<div class="warning" id="repair-url">${esc(t('inst.url_fixed', { url: r.login_url }))} ${esc(r.login_url_changes.join('; '))}</div>`;
  if (r.login_url_advice) html += `<div class="warning">${esc(r.login_url_advice)}</div>`;
  if (r.client_id_trimmed) html += `<div class="warning" id="repair-key">${esc(t('inst.trimmed_id'))}</div>`;
  if (r.client_secret_trimmed) html += `<div class="warning" id="repair-secret">${esc(t('inst.trimmed_secret'))}</div>`;
  return html;
}

async function saveInstance(inst) {
  const values = formValues();
  try {
    const path = inst ? `/admin/api/instances/${encodeURIComponent(inst.name)}` : '/admin/api/instances';
    const r = await api(inst ? 'PUT' : 'POST', path, values);
    instancesData = await api('GET', '/admin/api/instances');
    renderInstances(`<div class="banner" id="inst-saved">${esc(t('inst.saved', { name: r.instance.name }))}${repairsHtml(r.repairs)}</div>`);
  } catch (e) {
    $('inst-result').innerHTML = `<div class="problem">${esc(e.message)}</div>`;
  }
}

async function testInstance(inst) {
  const v = formValues();
  $('inst-result').innerHTML = `<span class="muted">${esc(t('inst.testing'))}</span>`;
  try {
    const r = await api('POST', '/admin/api/instances-test', { name: inst ? inst.name : null, login_url: v.login_url, client_id: v.client_id, client_secret: v.client_secret });
    $('inst-result').innerHTML = `<div class="${r.ok ? '' : 'problem'}" id="inst-test-result">${esc(t(r.ok ? 'inst.ok' : 'inst.fail', { detail: r.detail }))}</div>${repairsHtml(r.repairs)}`;
  } catch (e) {
    $('inst-result').innerHTML = `<div class="problem">${esc(e.message)}</div>`;
  }
}

async function deleteInstance(inst) {
  if (!window.confirm(t('inst.confirm_delete', { name: inst.name }))) return;
  try {
    await api('DELETE', `/admin/api/instances/${encodeURIComponent(inst.name)}`);
    await loadInstances();
  } catch (e) { showError(e); }
}

// ---- Caller cards --------------------------------------------------------------------------

const CALL_KINDS = ['inbound', 'outbound', 'missed', 'internal'];
let cardsData = null;
// Per instance: the layout being edited, and the fields the org offers (read on demand).
const cardEdits = new Map();
const cardChoices = new Map();

async function loadCards() {
  cardsData = await api('GET', '/admin/api/layout');
  cardEdits.clear();
  for (const i of cardsData.instances) {
    cardEdits.set(i.name, { cards: JSON.parse(JSON.stringify(i.cards)), priority: [...i.priority], cap: i.daily_api_cap });
  }
  renderCards();
  for (const i of cardsData.instances) loadChoices(i.name);
}

async function loadChoices(name) {
  if (cardChoices.has(name)) return;
  cardChoices.set(name, { loading: true });
  try {
    const d = await api('GET', `/admin/api/layout/${encodeURIComponent(name)}/fields`);
    cardChoices.set(name, { objects: d.objects });
  } catch (e) {
    cardChoices.set(name, { error: e.message });
  }
  if (current === 'cards') renderCards();
}

function renderCards(note) {
  const d = cardsData;
  let html = `<div class="toolbar"><h2>${esc(t('nav.cards'))}</h2></div><p class="muted">${esc(t('cards.help'))}</p>`;
  if (note) html += note;
  if (!d.instances.length) html += `<p class="muted">${esc(t('cards.none'))}</p>`;
  for (const i of d.instances) {
    const edit = cardEdits.get(i.name);
    const choices = cardChoices.get(i.name) || {};
    html += `<section class="cards-instance" data-instance="${esc(i.name)}"><h2>${esc(i.name)}</h2>`;
    if (choices.loading) html += `<p class="muted">${esc(t('cards.loading_fields'))}</p>`;
    if (choices.error) html += `<p class="problem">${esc(t('cards.no_fields', { msg: choices.error }))}</p>`;
    for (const object of d.objects) {
      const fields = edit.cards[object] || [];
      const offered = ((choices.objects || {})[object] || []).filter((c) => !fields.some((f) => f.path === c.path));
      html += `<div class="card-object" data-object="${esc(object)}"><h3>${esc(t('cards.object', { object }))}</h3><ol class="card-fields">`;
      fields.forEach((f, n) => {
        html += `<li data-path="${esc(f.path)}"><span class="path">${esc(f.path)}</span>
          <input class="card-label" aria-label="${esc(t('cards.label'))}" data-n="${n}" value="${esc(f.label)}" maxlength="60">
          <button type="button" class="small card-up" data-n="${n}" title="${esc(t('cards.up'))}" ${n === 0 ? 'disabled' : ''}>↑</button>
          <button type="button" class="small card-down" data-n="${n}" title="${esc(t('cards.down'))}" ${n === fields.length - 1 ? 'disabled' : ''}>↓</button>
          <button type="button" class="small danger card-remove" data-n="${n}" title="${esc(t('cards.remove'))}">✕</button></li>`;
      });
      html += `</ol><div class="card-add"><select class="card-pick"><option value="">${esc(t('cards.pick'))}</option>${offered.map((c) => `<option value="${esc(c.path)}" data-label="${esc(c.label)}">${esc(c.label)} (${esc(c.path)}${c.custom ? ', custom' : ''})</option>`).join('')}</select>
        <button type="button" class="card-add-btn">${esc(t('cards.add'))}</button>
        <button type="button" class="card-default">${esc(t('cards.default'))}</button></div></div>`;
    }
    html += `<h3>${esc(t('cards.priority'))}</h3><ol class="card-fields priority">${edit.priority.map((o, n) => `<li data-object="${esc(o)}"><span class="path">${esc(o)}</span>
      <button type="button" class="small prio-up" data-n="${n}" ${n === 0 ? 'disabled' : ''}>↑</button>
      <button type="button" class="small prio-down" data-n="${n}" ${n === edit.priority.length - 1 ? 'disabled' : ''}>↓</button></li>`).join('')}</ol>`;
    const usage = i.api_usage ? t('cards.usage', i.api_usage) : '';
    html += `<div class="form"><label>${esc(t('cards.cap'))}<input type="number" min="1" class="card-cap" value="${esc(edit.cap ?? '')}"></label>
      <div class="hint muted">${esc(t('cards.cap_help'))} ${esc(usage)}</div>
      ${i.paused ? `<div class="problem cap-paused">${esc(i.paused)}</div>` : ''}</div>`;
    const lc = i.log_calls;
    const logged = CALL_KINDS.filter((k) => lc[k]).map((k) => t(`calls.${k}`)).join(', ') || '–';
    html += `<h3>${esc(t('cards.calls'))}</h3><p class="calls-logged">${esc(logged)}; ${esc(t('calls.group'))}: ${esc(t(`calls.group.${lc.missed_group_calls}`))}</p>`;
    html += `<div class="buttons"><button type="button" class="brand card-save">${esc(t('cards.save'))}</button></div><div class="card-result" role="status"></div></section>`;
  }
  $('page-cards').innerHTML = html;
  for (const sec of document.querySelectorAll('.cards-instance')) wireCards(sec);
}

function wireCards(sec) {
  const name = sec.dataset.instance;
  const edit = cardEdits.get(name);
  const move = (list, n, by) => { const [x] = list.splice(n, 1); list.splice(n + by, 0, x); renderCards(); };
  for (const obj of sec.querySelectorAll('.card-object')) {
    const object = obj.dataset.object;
    const fields = () => { edit.cards[object] = edit.cards[object] || []; return edit.cards[object]; };
    for (const input of obj.querySelectorAll('.card-label')) input.addEventListener('input', () => { fields()[Number(input.dataset.n)].label = input.value; });
    for (const b of obj.querySelectorAll('.card-up')) b.addEventListener('click', () => move(fields(), Number(b.dataset.n), -1));
    for (const b of obj.querySelectorAll('.card-down')) b.addEventListener('click', () => move(fields(), Number(b.dataset.n), 1));
    for (const b of obj.querySelectorAll('.card-remove')) b.addEventListener('click', () => { fields().splice(Number(b.dataset.n), 1); renderCards(); });
    obj.querySelector('.card-add-btn').addEventListener('click', () => {
      const sel = obj.querySelector('.card-pick');
      const opt = sel.selectedOptions[0];
      if (!sel.value) return;
      fields().push({ path: sel.value, label: opt.dataset.label || sel.value });
      renderCards();
    });
    obj.querySelector('.card-default').addEventListener('click', () => { edit.cards[object] = JSON.parse(JSON.stringify(cardsData.defaults[object])); renderCards(); });
  }
  for (const b of sec.querySelectorAll('.prio-up')) b.addEventListener('click', () => move(edit.priority, Number(b.dataset.n), -1));
  for (const b of sec.querySelectorAll('.prio-down')) b.addEventListener('click', () => move(edit.priority, Number(b.dataset.n), 1));
  sec.querySelector('.card-cap').addEventListener('input', (ev) => { edit.cap = ev.target.value === '' ? null : Number(ev.target.value); });
  sec.querySelector('.card-save').addEventListener('click', async () => {
    const out = sec.querySelector('.card-result');
    try {
      await api('PUT', `/admin/api/layout/${encodeURIComponent(name)}`, { cards: edit.cards, priority: edit.priority, daily_api_cap: edit.cap });
      await loadCards();
      renderCards(`<div class="banner" id="cards-saved">${esc(t('cards.saved', { name }))}</div>`);
    } catch (e) {
      out.innerHTML = `<div class="problem">${esc(e.message)}</div>`;
    }
  });
}

// ---- Start -------------------------------------------------------------------------------

async function start() {
  translateStatic();
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    $('login-submit').disabled = true;
    try {
      const s = await api('POST', '/admin/api/login', { login: $('login-user').value, password: $('login-password').value });
      $('login-password').value = '';
      signedIn(s);
    } catch (e) {
      $('login-error').textContent = e.message;
    } finally {
      $('login-submit').disabled = false;
    }
  });
  $('logout').addEventListener('click', async () => {
    try { await api('POST', '/admin/api/logout'); } catch { /* signed out anyway */ }
    showLogin();
  });
  $('doctor-run').addEventListener('click', runDoctor);
  $('log-refresh').addEventListener('click', () => loadLog().catch(showError));
  $('log-filter').addEventListener('change', () => loadLog().catch(showError));
  $('log-level').addEventListener('change', setLevel);
  window.addEventListener('hashchange', route);
  try {
    signedIn(await api('GET', '/admin/api/session'));
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
  }
}

document.addEventListener('DOMContentLoaded', start);
