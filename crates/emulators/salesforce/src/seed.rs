//! Deterministic, messy, realistic org data: users, accounts with switchboards, contacts,
//! leads and a few call-log tasks, and the truth about every phone value.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::ids;
use crate::phones::{self, CITIES, City, Country, JUNK, Number};
use crate::schema::{ACCOUNT, CONTACT, LEAD, ObjectDef, SCHEMA, TASK, USER};
use crate::store::{Data, Record, Val};
use crate::time::Millis;

/// A phone value the generator wrote, and the number it stands for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpectedNumber {
    /// Record id (18 chars).
    pub id: String,
    /// Object API name.
    pub object: String,
    /// Field API name.
    pub field: String,
    /// The value as stored (what a client reads).
    pub raw: String,
    /// The E.164 number, or `None` when the value is no phone number (`n/a`, `-`, ...).
    pub e164: Option<String>,
    /// ISO country of the number: the default region to parse national forms (no `+`, no
    /// `00`) with. Forms starting with `00` were typed from the org's dialing country (DE):
    /// `001 415 ...` is a US number dialled from Germany.
    pub region: Option<String>,
    /// A US-style extension written after the number (`x12`), not part of `e164`.
    pub extension: Option<String>,
    /// ISO country of the record's address. National forms (no country code) only appear
    /// when it equals `region`.
    pub record_country: Option<String>,
}

/// A user of the org.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgUser {
    /// User id (18 chars, prefix 005).
    pub id: String,
    /// Login name (an e-mail address).
    pub username: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// E-mail address.
    pub email: String,
    /// Telephone extension, when the user has one.
    pub extension: Option<String>,
    /// Whether the user may log in.
    pub is_active: bool,
}

/// (first, last, e-mail, extension) of the demo users; the last is the run-as user.
const USERS: &[(&str, &str, &str, Option<&str>)] = &[
    ("Ben", "Utzer", "ben.utzer@example.com", Some("201")),
    ("Clara", "Klein", "clara.klein@example.com", Some("202")),
    ("David", "Dreher", "david.dreher@example.com", Some("203")),
    ("Eva", "Engel", "eva.engel@example.com", Some("204")),
    ("Gina", "Gone", "gina.gone@example.com", Some("206")),
    ("Integration", "User", "integration@example.com", None),
];

/// The username of the connected app's run-as user.
pub(crate) const RUN_AS_USERNAME: &str = "integration@example.com";

const FIRST_DACH: &[&str] = &[
    "Anna",
    "Lukas",
    "Jürgen",
    "Sophie",
    "Maximilian",
    "Lena",
    "Matthias",
    "Katharina",
    "Stefan",
    "Sabine",
    "Thomas",
    "Andrea",
    "Michael",
    "Julia",
    "Florian",
    "Birgit",
    "Günther",
    "Ursula",
    "Jörg",
    "Bärbel",
    "Sven",
    "Heike",
    "Dominik",
    "Verena",
    "Reto",
    "Urs",
    "Beat",
    "Corinne",
    "Hans-Peter",
    "Marie-Luise",
    "Özlem",
    "Mehmet",
    "Zoë",
    "René",
    "Agnieszka",
    "Tobias",
];
const LAST_DACH: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Gruber",
    "Huber",
    "Bauer",
    "Pichler",
    "Steiner",
    "Moser",
    "Keller",
    "Meier",
    "Brunner",
    "Baumann",
    "Frei",
    "Zimmermann",
    "Weiß",
    "Groß",
    "Köhler",
    "Jäger",
    "Böhm",
    "von Bülow",
    "Yılmaz",
    "Nowak",
    "Schäfer",
    "Krüger",
    "Lehmann",
    "Hofer",
    "Egger",
    "Graf",
];
const FIRST_US: &[&str] = &[
    "John", "Mary", "Robert", "Jennifer", "Michael", "Linda", "David", "Susan", "James", "Karen",
    "Emily", "Daniel", "Olivia", "Chris", "Priya", "Wei",
];
const LAST_US: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "O'Brien",
    "Nguyen", "Martinez", "Lee", "Walker", "Patel", "Chen", "Kowalski",
];
const COMPANY_WORDS: &[&str] = &[
    "Maschinenbau",
    "Logistik",
    "Software",
    "Elektrotechnik",
    "Holzbau",
    "Consulting",
    "Medizintechnik",
    "Solar",
    "Bäckerei",
    "Brauerei",
    "Systemhaus",
    "Immobilien",
    "Reisen",
    "Kältetechnik",
    "Druckerei",
    "Verpackung",
    "Labs",
    "Analytics",
    "Robotics",
    "Foods",
];
const TITLES: &[&str] = &[
    "Geschäftsführer",
    "Einkauf",
    "Leiterin Vertrieb",
    "IT-Leiter",
    "Head of Sales",
    "CFO",
    "Office Manager",
    "Buchhaltung",
    "Projektleiterin",
    "VP Engineering",
    "Assistant",
];
const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Einkauf",
    "IT",
    "Finance",
    "Operations",
    "Management",
];

/// The generated org.
pub(crate) struct Seeded {
    pub data: Data,
    pub org_id: String,
    pub users: Vec<OrgUser>,
    pub expected: Vec<ExpectedNumber>,
}

/// Sizes of the generated data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub accounts: usize,
    pub contacts: usize,
    pub leads: usize,
}

struct Gen {
    rng: ChaCha8Rng,
    data: Data,
    expected: Vec<ExpectedNumber>,
    now: Millis,
    owners: Vec<String>,
    integration: String,
}

/// One row under construction.
struct Row {
    obj: usize,
    vals: Vec<Val>,
    phones: Vec<(&'static str, String, Option<Number>)>,
    country: Option<Country>,
}

impl Row {
    fn new(obj: usize) -> Self {
        Row {
            obj,
            vals: vec![Val::Null; SCHEMA.obj(obj).fields.len()],
            phones: Vec::new(),
            country: None,
        }
    }
    fn def(&self) -> &'static ObjectDef {
        SCHEMA.obj(self.obj)
    }
    fn set(&mut self, field: &str, v: Val) {
        if let Some(i) = self.def().field_index(field) {
            self.vals[i] = v;
        }
    }
    fn text(&mut self, field: &str, s: &str) {
        self.set(field, Val::str(s));
    }
    fn phone(&mut self, field: &'static str, raw: String, truth: Option<Number>) {
        self.text(field, raw.as_str());
        if !raw.is_empty() {
            self.phones.push((field, raw, truth));
        }
    }
}

/// Builds the whole org from `seed`.
pub(crate) fn generate(seed: u64, sizes: Sizes, now: Millis) -> Seeded {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Counters somewhere in the middle of the id space, as in a long-lived org.
    let counters: Vec<u64> = SCHEMA
        .objects
        .iter()
        .map(|_| rng.random_range(3_000_000_u64..900_000_000))
        .collect();
    let org_id = ids::make_id("00D", rng.random_range(1_000_000..90_000_000));
    let day = 86_400_000;
    let mut g = Gen {
        rng,
        data: Data::new(&counters, now - 15 * day),
        expected: Vec::new(),
        now,
        owners: Vec::new(),
        integration: String::new(),
    };
    let users = g.users();
    let accounts: Vec<(String, City, Number)> = (0..sizes.accounts).map(|_| g.account()).collect();
    let mut shared_home: Vec<Number> = Vec::new();
    let mut contact_phones: Vec<(String, Number, City)> = Vec::new();
    for i in 0..sizes.contacts {
        let account = if accounts.is_empty() || g.rng.random_bool(0.08) {
            None
        } else {
            // Early accounts get more contacts than late ones: a realistic long tail.
            let a = g.rng.random_range(0..accounts.len());
            let b = g.rng.random_range(0..accounts.len());
            accounts.get(a.min(b))
        };
        if let Some(phone) = g.contact(i, account, &mut shared_home) {
            contact_phones.push(phone);
        }
    }
    for _ in 0..sizes.leads {
        g.lead(&contact_phones);
    }
    let tasks = sizes.contacts / 20;
    for _ in 0..tasks {
        g.task();
    }
    Seeded {
        data: g.data,
        org_id,
        users,
        expected: g.expected,
    }
}

impl Gen {
    fn past(&mut self, max_days: i64) -> (Millis, Millis) {
        let day = 86_400_000_i64;
        // Everything generated is at least an hour old, so a search-index lag of up to an
        // hour hides none of it.
        let created = self.now - self.rng.random_range(day / 12..max_days * day);
        let modified = self
            .rng
            .random_range(created..=(self.now - day / 24).max(created));
        (created, modified)
    }

    fn owner(&mut self) -> String {
        self.owners
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_default()
    }

    fn push(&mut self, mut row: Row, created_by: &str) -> String {
        let (created, modified) = self.past(400);
        let obj = row.def();
        let table = &self.data.tables[row.obj];
        let counter = table.next_counter();
        let id = ids::make_id(obj.prefix, counter);
        row.text("Id", &id);
        row.set("IsDeleted", Val::Bool(false));
        row.set("CreatedDate", Val::Time(created));
        row.set("LastModifiedDate", Val::Time(modified));
        row.set("SystemModstamp", Val::Time(modified));
        row.text("CreatedById", created_by);
        row.text("LastModifiedById", created_by);
        if let (Some(f), Some(l), Some(n)) = (
            obj.field_index("FirstName"),
            obj.field_index("LastName"),
            obj.field_index("Name"),
        ) {
            let full = [row.vals[f].as_str(), row.vals[l].as_str()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            row.vals[n] = Val::str(&full);
        }
        for (field, raw, truth) in row.phones.drain(..) {
            self.expected.push(ExpectedNumber {
                id: id.clone(),
                object: obj.name.to_owned(),
                field: field.to_owned(),
                raw,
                e164: truth.as_ref().map(Number::e164),
                region: truth.as_ref().map(|n| n.country.iso().to_owned()),
                extension: truth.as_ref().and_then(|n| n.extension.clone()),
                record_country: row.country.map(|c| c.iso().to_owned()),
            });
        }
        self.data.tables[row.obj].push(Record {
            id: id.as_str().into(),
            vals: row.vals.into_boxed_slice(),
            deleted_at: None,
        });
        id
    }

    fn users(&mut self) -> Vec<OrgUser> {
        let mut out = Vec::new();
        for (first, last, email, ext) in USERS {
            let mut row = Row::new(USER);
            row.text("Username", email);
            row.text("FirstName", first);
            row.text("LastName", last);
            row.text("Email", email);
            let alias: String = first.chars().take(1).chain(last.chars().take(4)).collect();
            row.text("Alias", &alias.to_lowercase());
            row.set("IsActive", Val::Bool(true));
            row.text("UserType", "Standard");
            row.text("TimeZoneSidKey", "Europe/Berlin");
            row.text("LocaleSidKey", "de_DE");
            row.text("LanguageLocaleKey", "de");
            if let Some(e) = ext {
                row.text("Extension", e);
            }
            let id = self.push(row, "");
            out.push(OrgUser {
                id: id.clone(),
                username: (*email).to_owned(),
                first_name: (*first).to_owned(),
                last_name: (*last).to_owned(),
                email: (*email).to_owned(),
                extension: ext.map(str::to_owned),
                is_active: true,
            });
        }
        // Users are created by the org's first admin; let them point at the integration user.
        self.integration = out.last().map(|u| u.id.clone()).unwrap_or_default();
        let integration = self.integration.clone();
        let user_obj = SCHEMA.obj(USER);
        for r in &mut self.data.tables[USER].records {
            for name in ["CreatedById", "LastModifiedById"] {
                if let Some(i) = user_obj.field_index(name) {
                    r.vals[i] = Val::str(&integration);
                }
            }
        }
        self.owners = out
            .iter()
            .filter(|u| u.username != RUN_AS_USERNAME)
            .map(|u| u.id.clone())
            .collect();
        out
    }

    fn city(&mut self) -> City {
        // Mostly German-speaking customers, some US.
        let pool: Vec<&City> = match self.rng.random_range(0..100) {
            0..55 => CITIES.iter().filter(|c| c.country == Country::De).collect(),
            55..72 => CITIES.iter().filter(|c| c.country == Country::At).collect(),
            72..87 => CITIES.iter().filter(|c| c.country == Country::Ch).collect(),
            _ => CITIES.iter().filter(|c| c.country == Country::Us).collect(),
        };
        pool.choose(&mut self.rng).map(|c| **c).unwrap_or(CITIES[0])
    }

    fn country_name(&mut self, c: Country) -> &'static str {
        c.names().choose(&mut self.rng).copied().unwrap_or("")
    }

    fn junk(&mut self) -> String {
        JUNK.choose(&mut self.rng)
            .map(|s| (*s).to_owned())
            .unwrap_or_default()
    }

    fn typed(&mut self, n: &Number, record_country: Country) -> String {
        phones::type_number(&mut self.rng, n, n.country == record_country)
    }

    fn account(&mut self) -> (String, City, Number) {
        let city = self.city();
        let name = self.company_name(city.country);
        let owner = self.owner();
        let mut row = Row::new(ACCOUNT);
        row.country = Some(city.country);
        row.text("Name", &name);
        let board = phones::switchboard(&mut self.rng, &city);
        let raw = self.typed(&board, city.country);
        row.phone("Phone", raw, Some(board.clone()));
        if self.rng.random_bool(0.4) {
            let mut fax = board.clone();
            fax = fax.with_direct_dial(&mut self.rng);
            if fax.country == Country::Us {
                fax = phones::landline(&mut self.rng, &city);
            }
            let raw = self.typed(&fax, city.country);
            row.phone("Fax", raw, Some(fax));
        }
        let types = [
            "Prospect",
            "Customer - Direct",
            "Customer - Channel",
            "Other",
        ];
        let t = types.choose(&mut self.rng).copied().unwrap_or("Prospect");
        row.text("Type", t);
        let ind = [
            "Manufacturing",
            "Technology",
            "Retail",
            "Consulting",
            "Healthcare",
            "Energy",
        ];
        let i = ind.choose(&mut self.rng).copied().unwrap_or("Other");
        row.text("Industry", i);
        let revenue = f64::from(self.rng.random_range(2_u32..4000)) * 25_000.0;
        row.set("AnnualRevenue", Val::Num(revenue));
        row.set(
            "NumberOfEmployees",
            Val::Int(self.rng.random_range(3..5000)),
        );
        row.text("BillingCity", city.name);
        row.text("BillingPostalCode", city.postal);
        let country = self.country_name(city.country);
        row.text("BillingCountry", country);
        let slug: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect::<String>()
            .to_lowercase();
        row.text("Website", &format!("https://www.{slug}.example"));
        row.text("OwnerId", &owner);
        let integration = self.integration.clone();
        let id = self.push(row, &integration);
        (id, city, board)
    }

    fn company_name(&mut self, country: Country) -> String {
        let word = COMPANY_WORDS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("Handel");
        let who = match country {
            Country::Us => LAST_US.choose(&mut self.rng).copied().unwrap_or("Smith"),
            _ => LAST_DACH.choose(&mut self.rng).copied().unwrap_or("Müller"),
        };
        let suffix = match country {
            Country::De => ["GmbH", "AG", "GmbH & Co. KG", "e.K.", "GmbH"].choose(&mut self.rng),
            Country::At => ["GmbH", "AG", "KG"].choose(&mut self.rng),
            Country::Ch => ["AG", "GmbH", "SA"].choose(&mut self.rng),
            Country::Us => ["Inc.", "LLC", "Corp."].choose(&mut self.rng),
        }
        .copied()
        .unwrap_or("GmbH");
        format!("{who} {word} {suffix}")
    }

    fn person(&mut self, country: Country) -> (&'static str, &'static str) {
        if country == Country::Us {
            (
                FIRST_US.choose(&mut self.rng).copied().unwrap_or("John"),
                LAST_US.choose(&mut self.rng).copied().unwrap_or("Smith"),
            )
        } else {
            (
                FIRST_DACH.choose(&mut self.rng).copied().unwrap_or("Anna"),
                LAST_DACH.choose(&mut self.rng).copied().unwrap_or("Müller"),
            )
        }
    }

    fn email(&mut self, first: &str, last: &str, domain: &str) -> String {
        let clean = |s: &str| -> String {
            s.to_lowercase()
                .replace('ä', "ae")
                .replace('ö', "oe")
                .replace('ü', "ue")
                .replace('ß', "ss")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        };
        format!("{}.{}@{domain}", clean(first), clean(last))
    }

    /// Returns the contact's business phone (raw, number, city) when it has one.
    fn contact(
        &mut self,
        n: usize,
        account: Option<&(String, City, Number)>,
        shared_home: &mut Vec<Number>,
    ) -> Option<(String, Number, City)> {
        let city = account.map_or_else(|| self.city(), |a| a.1);
        let country = city.country;
        let (first, last) = self.person(country);
        let owner = self.owner();
        let mut row = Row::new(CONTACT);
        row.country = Some(country);
        if !self.rng.random_bool(0.05) {
            row.text("FirstName", first);
        }
        row.text("LastName", last);
        let domain = format!("kunde{}.example", n % 97);
        let email = self.email(first, last, &domain);
        if self.rng.random_bool(0.85) {
            row.text("Email", &email);
        }
        let title = TITLES.choose(&mut self.rng).copied().unwrap_or("");
        row.text("Title", title);
        let dep = DEPARTMENTS.choose(&mut self.rng).copied().unwrap_or("");
        row.text("Department", dep);
        if let Some((account_id, _, _)) = account {
            row.text("AccountId", account_id);
        }
        row.text("MailingCity", city.name);
        row.text("MailingPostalCode", city.postal);
        let cname = self.country_name(country);
        row.text("MailingCountry", cname);
        row.text("OwnerId", &owner);

        // Business phone: a direct dial of the switchboard, the switchboard itself (shared
        // by colleagues), an own landline, junk, or nothing.
        let mut direct_raw = None;
        let roll = self.rng.random_range(0..100);
        let business = match (account, roll) {
            (Some((_, _, board)), 0..45) => Some(board.with_direct_dial(&mut self.rng)),
            (Some((_, _, board)), 45..60) => Some(board.clone()),
            (_, 60..85) | (None, 0..60) => Some(phones::landline(&mut self.rng, &city)),
            (_, 85..89) => {
                let junk = self.junk();
                row.phone("Phone", junk, None);
                None
            }
            _ => None,
        };
        if let Some(num) = business {
            let raw = self.typed(&num, country);
            direct_raw = Some((raw.clone(), num.clone(), city));
            row.phone("Phone", raw, Some(num));
        }
        if self.rng.random_bool(0.6) {
            let m = phones::mobile(&mut self.rng, country);
            let raw = self.typed(&m, country);
            row.phone("MobilePhone", raw, Some(m));
        }
        if self.rng.random_bool(0.15) {
            // Households share a line.
            let home = match shared_home.choose(&mut self.rng) {
                Some(h) if h.country == country && self.rng.random_bool(0.3) => h.clone(),
                _ => {
                    let h = phones::landline(&mut self.rng, &city);
                    shared_home.push(h.clone());
                    h
                }
            };
            let raw = self.typed(&home, country);
            row.phone("HomePhone", raw, Some(home));
        }
        if self.rng.random_bool(0.1) {
            if self.rng.random_bool(0.4) {
                let junk = self.junk();
                row.phone("OtherPhone", junk, None);
            } else {
                let o = phones::landline(&mut self.rng, &city);
                let raw = self.typed(&o, country);
                row.phone("OtherPhone", raw, Some(o));
            }
        }
        if let Some((_, _, board)) = account {
            if self.rng.random_bool(0.08) {
                let (af, al) = self.person(country);
                row.text("AssistantName", &format!("{af} {al}"));
                let a = board.with_direct_dial(&mut self.rng);
                let raw = self.typed(&a, country);
                row.phone("AssistantPhone", raw, Some(a));
                if self.rng.random_bool(0.6) {
                    let d = board.with_direct_dial(&mut self.rng);
                    let raw = self.typed(&d, country);
                    row.phone("Assistant_Direct__c", raw, Some(d));
                }
            }
            if self.rng.random_bool(0.15) {
                let f = board.with_direct_dial(&mut self.rng);
                let raw = self.typed(&f, country);
                row.phone("Fax", raw, Some(f));
            }
        }
        if self.rng.random_bool(0.03) {
            row.set("DoNotCall", Val::Bool(true));
        } else {
            row.set("DoNotCall", Val::Bool(false));
        }
        let integration = self.integration.clone();
        self.push(row, &integration);
        direct_raw
    }

    fn lead(&mut self, contact_phones: &[(String, Number, City)]) {
        // A caller who is already a contact became a lead too: the duplicate problem. Such a
        // lead shares the contact's number as typed, and its city.
        let duplicate = if !contact_phones.is_empty() && self.rng.random_bool(0.06) {
            contact_phones.choose(&mut self.rng).cloned()
        } else {
            None
        };
        let city = duplicate.as_ref().map_or_else(|| self.city(), |d| d.2);
        let country = city.country;
        let (first, last) = self.person(country);
        let owner = self.owner();
        let company = self.company_name(country);
        let mut row = Row::new(LEAD);
        row.country = Some(country);
        row.text("FirstName", first);
        row.text("LastName", last);
        row.text("Company", &company);
        let status = crate::schema::LEAD_STATUSES
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("Open - Not Contacted");
        row.text("Status", status);
        let source = ["Web", "Phone Inquiry", "Partner Referral", "Other"]
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("Web");
        row.text("LeadSource", source);
        row.text("City", city.name);
        row.text("PostalCode", city.postal);
        let cname = self.country_name(country);
        row.text("Country", cname);
        let email = self.email(first, last, "interessent.example");
        row.text("Email", &email);
        row.text("OwnerId", &owner);
        match (duplicate, self.rng.random_range(0..100)) {
            (Some((raw, number, _)), _) => row.phone("Phone", raw, Some(number)),
            (None, 0..70) => {
                let n = phones::landline(&mut self.rng, &city);
                let raw = self.typed(&n, country);
                row.phone("Phone", raw, Some(n));
            }
            (None, 70..75) => {
                let junk = self.junk();
                row.phone("Phone", junk, None);
            }
            _ => {}
        }
        if self.rng.random_bool(0.5) {
            let m = phones::mobile(&mut self.rng, country);
            let raw = self.typed(&m, country);
            row.phone("MobilePhone", raw, Some(m));
        }
        row.set("IsConverted", Val::Bool(false));
        row.set("DoNotCall", Val::Bool(false));
        let integration = self.integration.clone();
        self.push(row, &integration);
    }

    fn task(&mut self) {
        let contacts = self.data.tables[CONTACT].records.len();
        if contacts == 0 {
            return;
        }
        let who = self.data.tables[CONTACT].records[self.rng.random_range(0..contacts)]
            .id
            .to_string();
        let owner = self.owner();
        let mut row = Row::new(TASK);
        let inbound = self.rng.random_bool(0.5);
        row.text("WhoId", &who);
        row.text(
            "Subject",
            if inbound {
                "Eingehender Anruf"
            } else {
                "Ausgehender Anruf"
            },
        );
        row.text("Status", "Completed");
        row.text("Priority", "Normal");
        row.set("IsClosed", Val::Bool(true));
        row.text("TaskSubtype", "Call");
        row.text("CallType", if inbound { "Inbound" } else { "Outbound" });
        row.set(
            "CallDurationInSeconds",
            Val::Int(self.rng.random_range(5..1800)),
        );
        let call = format!("legacy-{:08x}", self.rng.random::<u32>());
        row.text("CallObject", &call);
        row.text("OwnerId", &owner);
        let (_, modified) = self.past(60);
        row.set("ActivityDate", Val::Date(crate::time::day_of_ms(modified)));
        let integration = self.integration.clone();
        self.push(row, &integration);
    }
}
