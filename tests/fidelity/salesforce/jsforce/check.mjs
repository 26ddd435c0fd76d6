// jsforce, unchanged, against the emulated org. Usage:
//   NODE_EXTRA_CA_CERTS=<ca.pem> node check.mjs <instance_url> <access_token> <contacts>
// Prints one line per check; exits non-zero on the first failure.
import jsforce from 'jsforce';

const [instanceUrl, accessToken, contactsArg] = process.argv.slice(2);
const contacts = Number(contactsArg);
const conn = new jsforce.Connection({ instanceUrl, accessToken, version: '62.0' });

function check(ok, what) {
  if (!ok) {
    console.error(`FAIL ${what}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

async function rejects(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

const all = await conn.query('SELECT Id, Name, Owner.Name FROM Contact').run({ autoFetch: true, maxFetch: 100000 });
check(all.records.length === contacts, `autoFetch query returns all ${contacts} contacts (got ${all.records.length})`);
check(new Set(all.records.map((r) => r.Id)).size === contacts, 'contact ids are unique');
check(all.records.every((r) => r.Owner && typeof r.Owner.Name === 'string'), 'Owner.Name comes nested');
check(conn.limitInfo && conn.limitInfo.apiUsage && conn.limitInfo.apiUsage.used >= 2, 'Sforce-Limit-Info is parsed');

const tasks = await conn.sobject('Task').create(
  [0, 1, 2].map((i) => ({
    Subject: `jsforce ${i}`,
    Status: 'Completed',
    TaskSubtype: 'Call',
    CallType: 'Outbound',
    CallObject: `jsforce-${i}`,
  })),
  { allOrNone: true },
);
check(tasks.length === 3 && tasks.every((r) => r.success && r.id.startsWith('00T')), 'sObject Collections create');

const contact = await conn.sobject('Contact').create({ LastName: 'Skript', Phone: '+49 30 5550111' });
check(contact.success && contact.id.startsWith('003'), 'single create');
const fetched = await conn.sobject('Contact').retrieve(contact.id);
check(fetched.Name === 'Skript' && fetched.Phone === '+49 30 5550111', 'retrieve');

const found = await conn.search('FIND {\\+49305550111} IN PHONE FIELDS RETURNING Contact(Id, Name)');
check(found.searchRecords.some((r) => r.Id === contact.id), 'SOSL phone search');

const describe = await conn.sobject('Contact').describe();
const phones = describe.fields.filter((f) => f.type === 'phone').map((f) => f.name);
check(phones.includes('Assistant_Direct__c'), 'describe lists the custom phone field');

const invalid = await rejects(conn.query('SELECT Foo FROM Contact'));
check(invalid && invalid.errorCode === 'INVALID_FIELD', 'INVALID_FIELD error code');

const expired = new jsforce.Connection({ instanceUrl, accessToken: '00D000000000000!nope', version: '62.0' });
const session = await rejects(expired.query('SELECT Id FROM Contact LIMIT 1'));
check(session && session.errorCode === 'INVALID_SESSION_ID', 'INVALID_SESSION_ID error code');
