//! Seed data: the demo users and groups every emulator shares, the address-book scheme, and
//! generated "foreign" contacts that the connector must never touch.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One PBX user to create at start.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSeed {
    /// Login id, e.g. `1001`.
    pub login_id: String,
    /// First name.
    pub first_name: String,
    /// Family name.
    pub family_name: String,
    /// E-mail as stored on the PBX (case kept).
    pub email: String,
    /// Plain password (demo data only).
    pub password: String,
    /// Internal number, e.g. `201`.
    pub internal_number: String,
    /// Phone ids, e.g. `SIP/201`; the first is the primary phone.
    pub phone_ids: Vec<String>,
    /// PBX administrator (may act for other users in REST).
    pub admin: bool,
}

impl std::fmt::Debug for UserSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Demo passwords only, but Debug output ends up in logs: keep the habit.
        f.debug_struct("UserSeed")
            .field("login_id", &self.login_id)
            .field("first_name", &self.first_name)
            .field("family_name", &self.family_name)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("internal_number", &self.internal_number)
            .field("phone_ids", &self.phone_ids)
            .field("admin", &self.admin)
            .finish()
    }
}

/// One PBX group to create at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSeed {
    /// Group name, e.g. `Sales`.
    pub name: String,
    /// Internal number, e.g. `600`.
    pub internal_number: String,
    /// External number as the PBX shows it, if any.
    pub external_number: Option<String>,
    /// Login ids of the members.
    pub members: Vec<String>,
}

/// A user with one phone `SIP/<number>`.
fn user(
    login: &str,
    first: &str,
    family: &str,
    email: &str,
    password: &str,
    number: &str,
) -> UserSeed {
    UserSeed {
        login_id: login.into(),
        first_name: first.into(),
        family_name: family.into(),
        email: email.into(),
        password: password.into(),
        internal_number: number.into(),
        phone_ids: vec![format!("SIP/{number}")],
        admin: false,
    }
}

/// The demo users of the project brief.
pub fn demo_users() -> Vec<UserSeed> {
    vec![
        UserSeed {
            admin: true,
            ..user(
                "0001",
                "Ada",
                "Admin",
                "admin@example.com",
                "admin-pass",
                "200",
            )
        },
        UserSeed {
            phone_ids: vec!["SIP/201".into(), "SIP/201-mobile".into()],
            ..user(
                "1001",
                "Ben",
                "Utzer",
                "ben.utzer@example.com",
                "ben-pass",
                "201",
            )
        },
        user(
            "1002",
            "Clara",
            "Klein",
            "clara.klein@example.com",
            "clara-pass",
            "202",
        ),
        user(
            "1003",
            "David",
            "Dreher",
            "david.dreher@example.com",
            "david-pass",
            "203",
        ),
        // E-mail case differs from the Salesforce user on purpose.
        user(
            "1004",
            "Eva",
            "Engel",
            "Eva.Engel@Example.com",
            "eva-pass",
            "204",
        ),
        // No Salesforce user: the FAQ's mismatch case.
        user(
            "1005",
            "Frank",
            "Fremd",
            "frank.fremd@example.org",
            "frank-pass",
            "205",
        ),
    ]
}

/// The demo groups of the project brief.
pub fn demo_groups() -> Vec<GroupSeed> {
    vec![
        GroupSeed {
            name: "Sales".into(),
            internal_number: "600".into(),
            external_number: Some("+49 30 1234560".into()),
            members: vec!["1001".into(), "1002".into(), "1004".into()],
        },
        GroupSeed {
            name: "Support".into(),
            internal_number: "601".into(),
            external_number: None,
            members: vec!["1003".into()],
        },
    ]
}

/// One attribute of the address-book scheme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SchemeAttribute {
    pub name: &'static str,
    pub display_key: &'static str,
    pub de: &'static str,
    pub en: &'static str,
}

/// One block of the address-book scheme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SchemeBlock {
    pub name: &'static str,
    pub resource_key: &'static str,
    pub attributes: &'static [SchemeAttribute],
}

const fn attr(
    name: &'static str,
    display_key: &'static str,
    de: &'static str,
    en: &'static str,
) -> SchemeAttribute {
    SchemeAttribute {
        name,
        display_key,
        de,
        en,
    }
}

/// The display keys the Swagger allows for an attribute.
pub(crate) const DISPLAY_KEYS: &[&str] = &[
    "NAME",
    "SURNAME",
    "SALUTATION",
    "TITLE",
    "EMAIL",
    "COUNTRY",
    "CITY",
    "STATE",
    "POSTAL_CODE",
    "STREET",
    "URL",
    "COMPANY",
    "MESSENGER",
    "BIRTHDAY",
    "NOTE",
    "JOB_TITLE",
    "PHONE_NUMBER",
    "PRIVATE_PHONE_NUMBER",
    "OFFICE_PHONE_NUMBER",
    "MOBILE_PHONE_NUMBER",
    "FAX_NUMBER",
    "DESCRIPTION",
    "USER_DEFINED",
];

/// The detail blocks of a contact. Attribute and block names are ours (the real names are not
/// public); clients should find attributes by `displayKey` through `/rest/contacts/scheme`.
pub(crate) const SCHEME: &[SchemeBlock] = &[
    SchemeBlock {
        name: "contact",
        resource_key: "addressbook.block.contact",
        attributes: &[
            attr("salutation", "SALUTATION", "Anrede", "Salutation"),
            attr("title", "TITLE", "Titel", "Title"),
            attr("firstname", "NAME", "Vorname", "First name"),
            attr("lastname", "SURNAME", "Nachname", "Last name"),
            attr("company", "COMPANY", "Firma", "Company"),
            attr("jobtitle", "JOB_TITLE", "Position", "Job title"),
        ],
    },
    SchemeBlock {
        name: "telephone",
        resource_key: "addressbook.block.telephone",
        attributes: &[
            attr("phone", "PHONE_NUMBER", "Telefon", "Phone"),
            attr(
                "officephone",
                "OFFICE_PHONE_NUMBER",
                "Telefon geschäftlich",
                "Office phone",
            ),
            attr("mobile", "MOBILE_PHONE_NUMBER", "Mobil", "Mobile"),
            attr(
                "privatephone",
                "PRIVATE_PHONE_NUMBER",
                "Telefon privat",
                "Private phone",
            ),
            attr("fax", "FAX_NUMBER", "Fax", "Fax"),
        ],
    },
    SchemeBlock {
        name: "address",
        resource_key: "addressbook.block.address",
        attributes: &[
            attr("street", "STREET", "Straße", "Street"),
            attr("postalcode", "POSTAL_CODE", "PLZ", "Postal code"),
            attr("city", "CITY", "Ort", "City"),
            attr("state", "STATE", "Bundesland", "State"),
            attr("country", "COUNTRY", "Land", "Country"),
        ],
    },
    SchemeBlock {
        name: "online",
        resource_key: "addressbook.block.online",
        attributes: &[
            attr("email", "EMAIL", "E-Mail", "E-mail"),
            attr("url", "URL", "Webseite", "Website"),
            attr("messenger", "MESSENGER", "Messenger", "Messenger"),
        ],
    },
    SchemeBlock {
        name: "misc",
        resource_key: "addressbook.block.misc",
        attributes: &[
            attr("birthday", "BIRTHDAY", "Geburtstag", "Birthday"),
            attr("note", "NOTE", "Notiz", "Note"),
            attr("description", "DESCRIPTION", "Beschreibung", "Description"),
            attr("custom", "USER_DEFINED", "custom", "custom"),
        ],
    },
];

/// Attribute names shown in list views (`summaryBlockSchema`), in order.
pub(crate) const SUMMARY: &[&str] = &["firstname", "lastname", "company"];
/// Attribute names of the phone block (`phoneNumbersBlockSchema`), in order.
pub(crate) const PHONES: &[&str] = &["phone", "officephone", "mobile", "privatephone", "fax"];

/// Finds an attribute of the scheme by name.
pub(crate) fn scheme_attribute(
    name: &str,
) -> Option<(&'static SchemeBlock, &'static SchemeAttribute)> {
    SCHEME
        .iter()
        .find_map(|b| b.attributes.iter().find(|a| a.name == name).map(|a| (b, a)))
}

/// Attribute values of one generated contact.
pub(crate) type ContactValues = Vec<(&'static str, String)>;

const FIRST: &[&str] = &[
    "Jürgen",
    "Petra",
    "Hans-Peter",
    "Sabine",
    "Özlem",
    "Thomas",
    "Anna",
    "Klaus",
    "Marie",
    "Stefan",
];
const LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schäfer",
];
const COMPANIES: &[&str] = &[
    "Bäckerei Sonnenschein",
    "Elektro Blitz GmbH",
    "Steuerkanzlei Recht & Partner",
    "Autohaus am Ring",
    "",
    "Praxis Dr. Gesund",
];

/// Generates the pre-existing address-book entries: numbers typed the way people type them.
pub(crate) fn foreign_contacts(rng: &mut ChaCha8Rng, count: usize) -> Vec<ContactValues> {
    (0..count)
        .map(|i| {
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..LAST.len())];
            let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
            let subscriber: u32 = rng.random_range(100_000..9_999_999);
            let phone = match i % 6 {
                0 => format!("+49 30 {subscriber}"),
                1 => format!("030/{subscriber}"),
                2 => format!("0049 89 {subscriber}"),
                3 => format!("+49 (0)221 {subscriber}-0"),
                4 => format!("+43 1 {subscriber}"),
                _ => format!("0171 {subscriber}"),
            };
            let mut values: ContactValues = vec![
                ("firstname", first.to_owned()),
                ("lastname", last.to_owned()),
                ("phone", phone),
            ];
            if !company.is_empty() {
                values.push(("company", company.to_owned()));
            }
            if i % 3 == 0 {
                values.push((
                    "mobile",
                    format!("+49 170 {}", rng.random_range(1_000_000..9_999_999u32)),
                ));
            }
            if i % 4 == 1 {
                values.push((
                    "email",
                    format!("{}.{}@example.net", ascii(first), ascii(last)),
                ));
            }
            values
        })
        .collect()
}

fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'ä' => Some('a'),
            'ö' | 'Ö' => Some('o'),
            'ü' => Some('u'),
            c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
