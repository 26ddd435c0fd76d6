//! Caller cards: the fields of each record that the panel shows while it rings, kept in memory
//! next to the phone index so that the ring path reads nothing from disk or from Salesforce.
//!
//! Which fields a card shows, in which order and under which label, is a [`CardLayout`] per
//! instance (set in the admin UI). A card keeps only its record's values, in the layout's
//! order, and one shared pointer to its object's layout: labels exist once per layout, not
//! once per record (a million records would otherwise carry a million copies of "Owner").

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use ctibridge_store::{PhoneValue, RawFields, StoredPhone};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::hub::CardField;

/// Card fields per object by default, as (API path, label). Relationship paths such as
/// `Owner.Name` read the nested object of the query row.
pub const DEFAULT_CARD_FIELDS: [(&str, &[(&str, &str)]); 3] = [
    (
        "Contact",
        &[
            ("Account.Name", "Account"),
            ("Title", "Title"),
            ("Email", "Email"),
            ("Owner.Name", "Owner"),
        ],
    ),
    (
        "Lead",
        &[
            ("Company", "Company"),
            ("Status", "Lead Status"),
            ("Email", "Email"),
            ("Owner.Name", "Owner"),
        ],
    ),
    (
        "Account",
        &[("AnnualRevenue", "Annual Revenue"), ("Owner.Name", "Owner")],
    ),
];

/// The objects a layout covers, in the default object priority.
pub const CARD_OBJECTS: [&str; 3] = ["Contact", "Lead", "Account"];

/// At most this many fields on one object's card: the panel is a narrow utility bar.
pub const MAX_CARD_FIELDS: usize = 12;

/// The query fields a card of `object` needs in the default layout (relationship paths
/// included).
pub fn card_query_fields(object: &str) -> Vec<&'static str> {
    DEFAULT_CARD_FIELDS
        .iter()
        .find(|(o, _)| *o == object)
        .map(|(_, fields)| fields.iter().map(|(path, _)| *path).collect())
        .unwrap_or_default()
}

/// One field of a card as the admin picks it: an API path (`Title`, `Owner.Name`,
/// `Partner__r.Name`) and the label the panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub path: String,
    pub label: String,
}

/// Why a field path cannot be on a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path:?} is not a field path (a field API name, or one relationship and its field such as Owner.Name)"
)]
pub struct BadPath {
    pub path: String,
}

/// Checks a field path's form: it goes into SOQL as it is, so only API-name characters and at
/// most one relationship step pass.
pub fn check_path(path: &str) -> Result<(), BadPath> {
    let bad = || BadPath {
        path: path.to_owned(),
    };
    let parts: Vec<&str> = path.split('.').collect();
    if parts.is_empty() || parts.len() > 2 || path.len() > 120 {
        return Err(bad());
    }
    for part in parts {
        let mut chars = part.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
    }
    Ok(())
}

/// The card fields of one object; shared by every card of that object.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectLayout {
    object: Box<str>,
    fields: Box<[(Box<str>, Box<str>)]>,
}

impl ObjectLayout {
    /// The object's API name.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// The API paths, in card order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(p, _)| &**p)
    }

    fn position(&self, path: &str) -> Option<usize> {
        self.fields.iter().position(|(p, _)| &**p == path)
    }
}

/// The card fields of every object of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLayout {
    objects: Vec<Arc<ObjectLayout>>,
}

impl Default for CardLayout {
    fn default() -> Self {
        Self::from_specs(&BTreeMap::new())
    }
}

impl CardLayout {
    /// A layout from the admin's choice; an object the choice leaves out keeps the default
    /// fields. Paths that fail [`check_path`] are left out (the admin API refuses them first).
    pub fn from_specs(specs: &BTreeMap<String, Vec<FieldSpec>>) -> Self {
        let objects = DEFAULT_CARD_FIELDS
            .iter()
            .map(|(object, defaults)| {
                let fields: Box<[(Box<str>, Box<str>)]> = match specs.get(*object) {
                    Some(chosen) => chosen
                        .iter()
                        .filter(|f| check_path(&f.path).is_ok())
                        .map(|f| (f.path.as_str().into(), f.label.as_str().into()))
                        .collect(),
                    None => defaults
                        .iter()
                        .map(|(p, l)| ((*p).into(), (*l).into()))
                        .collect(),
                };
                Arc::new(ObjectLayout {
                    object: (*object).into(),
                    fields,
                })
            })
            .collect();
        Self { objects }
    }

    /// The layout as the admin API shows and stores it.
    pub fn specs(&self) -> BTreeMap<String, Vec<FieldSpec>> {
        self.objects
            .iter()
            .map(|o| {
                (
                    o.object.to_string(),
                    o.fields
                        .iter()
                        .map(|(p, l)| FieldSpec {
                            path: p.to_string(),
                            label: l.to_string(),
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// The layout of one object.
    pub fn object(&self, object: &str) -> Option<&Arc<ObjectLayout>> {
        self.objects.iter().find(|o| &*o.object == object)
    }

    /// The query fields a card of `object` needs (relationship paths included).
    pub fn query_fields(&self, object: &str) -> Vec<String> {
        self.object(object)
            .map(|o| o.paths().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// One record's card as the panel gets it: labels and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub object: String,
    pub name: String,
    pub fields: Vec<CardField>,
}

/// Separates the name and the values in [`CardValues`]' one string (ASCII unit separator,
/// which no value keeps: [`CardValues::build`] turns it into a space).
const SEP: char = '\u{1f}';

/// Appends `s` with every [`SEP`] in it turned into a space (same length: both are ASCII).
fn push_without_sep(text: &mut String, s: &str) {
    if s.contains(SEP) {
        text.extend(s.chars().map(|c| if c == SEP { ' ' } else { c }));
    } else {
        text.push_str(s);
    }
}

/// One record's card as memory keeps it: the values in its layout's order, no labels, in one
/// allocation (`name SEP value SEP value ...`, an empty value for an empty field).
#[derive(Debug, Clone)]
pub struct CardValues {
    layout: Arc<ObjectLayout>,
    text: Box<str>,
}

impl CardValues {
    /// The card of a query row (or cached record fields) under `layout`.
    pub fn build(layout: &Arc<ObjectLayout>, row: &Map<String, Value>) -> Self {
        Self::build_with_phones(layout, row, &[])
    }

    /// The card of a cached record, whose phone fields are kept apart from its other fields
    /// (a phone field can be on a card too, e.g. a custom direct line).
    pub fn build_with_phones(
        layout: &Arc<ObjectLayout>,
        row: &Map<String, Value>,
        phones: &[PhoneValue],
    ) -> Self {
        let name = row.get("Name").and_then(Value::as_str).unwrap_or_default();
        let values = layout
            .fields
            .iter()
            .map(|(path, _)| match lookup_path(row, path) {
                Some(v) => display(v),
                None => phone_on_card(phones.iter().map(|p| (&*p.field, &*p.raw)), path)
                    .map(str::to_owned),
            });
        Self::pack(layout, name, values)
    }

    /// The card of a row of the record cache as a start reads it: the fields stay JSON text
    /// and only the card's are read (the result equals [`CardValues::build_with_phones`] of
    /// the decoded record).
    pub fn build_from_stored(
        layout: &Arc<ObjectLayout>,
        fields: &RawFields<'_>,
        phones: &[StoredPhone<'_>],
    ) -> Self {
        let name = fields
            .get("Name")
            .and_then(|v| serde_json::from_str::<BorrowedText<'_>>(v.get()).ok())
            .map(|t| t.0);
        let values = layout
            .fields
            .iter()
            .map(|(path, _)| match lookup_raw_path(fields, path) {
                Some(v) => display_raw(v),
                None => phone_on_card(phones.iter().map(|p| (&*p.field, &*p.raw)), path)
                    .map(Cow::Borrowed),
            });
        Self::pack(layout, name.as_deref().unwrap_or_default(), values)
    }

    fn pack<S: AsRef<str>>(
        layout: &Arc<ObjectLayout>,
        name: &str,
        values: impl Iterator<Item = Option<S>>,
    ) -> Self {
        // Sized exactly, so that the box takes the string as it is (a start builds a million).
        let values: Vec<Option<S>> = values.collect();
        let len = name.len()
            + values
                .iter()
                .map(|v| SEP.len_utf8() + v.as_ref().map_or(0, |v| v.as_ref().len()))
                .sum::<usize>();
        let mut text = String::with_capacity(len);
        push_without_sep(&mut text, name);
        for v in &values {
            text.push(SEP);
            if let Some(v) = v {
                push_without_sep(&mut text, v.as_ref());
            }
        }
        Self {
            layout: layout.clone(),
            text: text.into_boxed_str(),
        }
    }

    fn name(&self) -> &str {
        self.text.split(SEP).next().unwrap_or_default()
    }

    /// The values in layout order; `None` for an empty field.
    fn values(&self) -> impl Iterator<Item = Option<&str>> {
        self.text
            .split(SEP)
            .skip(1)
            .map(|v| (!v.is_empty()).then_some(v))
    }

    /// The card with its labels, without empty fields.
    pub fn render(&self) -> Card {
        Card {
            object: self.layout.object.to_string(),
            name: self.name().to_owned(),
            fields: self
                .layout
                .fields
                .iter()
                .zip(self.values())
                .filter_map(|((_, label), value)| {
                    Some(CardField {
                        label: label.to_string(),
                        value: value?.to_owned(),
                    })
                })
                .collect(),
        }
    }

    /// The card as memory keeps it (see [`CardValues::from_text`]).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// A card from [`CardValues::text`] of a card built under the same `layout`; `None` when
    /// the text has another number of fields.
    pub(crate) fn from_text(layout: &Arc<ObjectLayout>, text: &str) -> Option<Self> {
        (text.matches(SEP).count() == layout.fields.len()).then(|| Self {
            layout: layout.clone(),
            text: text.into(),
        })
    }

    /// The layout this card was built with.
    pub fn layout(&self) -> &Arc<ObjectLayout> {
        &self.layout
    }

    /// The same values under another layout of the same object: fields both have keep their
    /// value, new fields stay empty until the record is read again.
    pub fn relayout(&self, layout: &Arc<ObjectLayout>) -> Self {
        let old: Vec<Option<&str>> = self.values().collect();
        let values = layout.paths().map(|p| {
            self.layout
                .position(p)
                .and_then(|i| old.get(i).copied().flatten())
        });
        Self::pack(layout, self.name(), values)
    }
}

fn lookup_path<'a>(row: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = row.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The value of a phone field a card shows (phone fields are kept apart from the others):
/// `phones` as (field, value); the field name compared without case.
fn phone_on_card<'a>(
    mut phones: impl Iterator<Item = (&'a str, &'a str)>,
    path: &str,
) -> Option<&'a str> {
    phones
        .find(|(field, _)| field.eq_ignore_ascii_case(path))
        .map(|(_, raw)| raw.trim())
        .filter(|raw| !raw.is_empty())
}

/// [`lookup_path`] in JSON text.
fn lookup_raw_path<'a>(row: &RawFields<'a>, path: &str) -> Option<&'a RawValue> {
    match path.split_once('.') {
        None => row.get(path),
        Some((head, rest)) => {
            let inner = RawFields::parse(row.get(head)?).ok()?;
            lookup_raw_path(&inner, rest)
        }
    }
}

/// [`display`] of a value in JSON text; a string without escapes is not copied.
fn display_raw(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: Cow<'_, str> = serde_json::from_str::<BorrowedText<'_>>(text).ok()?.0;
        return (!s.trim().is_empty()).then_some(s);
    }
    let value: Value = serde_json::from_str(text).ok()?;
    display(&value).map(Cow::Owned)
}

/// A JSON string, borrowed from the text unless it holds an escape.
#[derive(Deserialize)]
struct BorrowedText<'a>(#[serde(borrow)] Cow<'a, str>);

/// A value as the card shows it; nothing for null and empty strings.
fn display(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => group_thousands(f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// `12500000` -> `12,500,000`.
fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_card_built_from_the_cached_text_equals_the_card_of_the_decoded_record() {
        let specs: BTreeMap<String, Vec<FieldSpec>> = [(
            "Contact".to_owned(),
            [
                "Account.Name",
                "Title",
                "Email",
                "Owner.Name",
                "AnnualRevenue",
                "Score__c",
                "Active__c",
                "Tags__c",
                "Partner__r.Name",
                "Direct__c",
                "Missing__c",
                "Weird.Path",
            ]
            .iter()
            .map(|p| FieldSpec {
                path: (*p).into(),
                label: (*p).into(),
            })
            .collect(),
        )]
        .into();
        let layout = CardLayout::from_specs(&specs);
        let layout = layout.object("Contact").unwrap();
        let rows = [
            json!({
                "Name": "Jürgen \"JJ\" Müller\u{1f}x", "Title": "Leiter\n\"Einkauf\"",
                "Email": "  ", "Account": {"Name": "Acme \\ Söhne"}, "Owner": null,
                "AnnualRevenue": 12500000, "Score__c": 1.5, "Active__c": true,
                "Tags__c": ["a", {"b": 1}], "Partner__r": {"Name": ""}, "Weird": "not an object",
            }),
            json!({"Account": null, "Owner": {"Name": "Zoë"}, "AnnualRevenue": -1234.0}),
            json!({}),
        ];
        let phones = [
            PhoneValue {
                field: "direct__c".into(),
                raw: " +49 89 123 ".into(),
                e164: None,
            },
            PhoneValue {
                field: "Phone".into(),
                raw: "030 1".into(),
                e164: None,
            },
        ];
        for row in rows {
            let map = row.as_object().unwrap();
            let decoded = CardValues::build_with_phones(layout, map, &phones);
            let text = serde_json::to_string(&json!([row, phones])).unwrap();
            let (fields, stored): (&RawValue, Vec<StoredPhone<'_>>) =
                serde_json::from_str(&text).unwrap();
            let fields = RawFields::parse(fields).unwrap();
            let from_text = CardValues::build_from_stored(layout, &fields, &stored);
            assert_eq!(from_text.text, decoded.text, "{row}");
            assert_eq!(from_text.render(), decoded.render());
        }
    }

    #[test]
    fn a_contact_card_reads_relationship_fields_and_skips_empty_ones() {
        let row = json!({
            "Id": "003000000000001AAA", "Name": "Maria Muster", "Title": "",
            "Email": "maria@example.com",
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme GmbH"},
            "Owner": {"Name": "Ben Utzer"}
        });
        let layout = CardLayout::default();
        let contact = layout.object("Contact").unwrap();
        let card = CardValues::build(contact, row.as_object().unwrap()).render();
        let labels: Vec<_> = card
            .fields
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("Account", "Acme GmbH"),
                ("Email", "maria@example.com"),
                ("Owner", "Ben Utzer")
            ]
        );
    }

    #[test]
    fn revenue_is_grouped_by_thousands() {
        assert_eq!(display(&json!(12500000.0)).unwrap(), "12,500,000");
        assert_eq!(display(&json!(999)).unwrap(), "999");
        assert_eq!(display(&json!(-1234)).unwrap(), "-1,234");
    }

    fn contact_row() -> serde_json::Value {
        json!({
            "Id": "003000000000001AAA", "Name": "Maria Muster", "Title": "CEO",
            "Email": "maria@example.com", "Department": "Board",
            "Assistant_Direct__c": "+49 30 555",
            "Account": {"Name": "Acme GmbH"}, "Owner": {"Name": "Ben Utzer"}
        })
    }

    fn spec(path: &str, label: &str) -> FieldSpec {
        FieldSpec {
            path: path.into(),
            label: label.into(),
        }
    }

    #[test]
    fn a_chosen_layout_shows_its_fields_in_its_order_with_custom_fields() {
        let mut specs = BTreeMap::new();
        specs.insert(
            "Contact".to_owned(),
            vec![
                spec("Assistant_Direct__c", "Assistentin"),
                spec("Department", "Abteilung"),
                spec("Owner.Name", "Inhaber"),
            ],
        );
        let layout = CardLayout::from_specs(&specs);
        let contact = layout.object("Contact").unwrap();
        let card = CardValues::build(contact, contact_row().as_object().unwrap()).render();
        let shown: Vec<_> = card
            .fields
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("Assistentin", "+49 30 555"),
                ("Abteilung", "Board"),
                ("Inhaber", "Ben Utzer")
            ]
        );
        // Objects the admin left alone keep the default fields.
        assert_eq!(
            layout.query_fields("Lead"),
            vec!["Company", "Status", "Email", "Owner.Name"]
        );
    }

    #[test]
    fn cards_share_one_layout_and_keep_no_label_of_their_own() {
        let layout = CardLayout::default();
        let contact = layout.object("Contact").unwrap();
        let a = CardValues::build(contact, contact_row().as_object().unwrap());
        let b = CardValues::build(contact, contact_row().as_object().unwrap());
        assert!(Arc::ptr_eq(a.layout(), b.layout()));
        assert_eq!(a.values().count(), 4);
        assert!(!a.text.contains("Owner"), "no label in {:?}", a.text);
        assert_eq!(
            &*a.text,
            "Maria Muster\u{1f}Acme GmbH\u{1f}CEO\u{1f}maria@example.com\u{1f}Ben Utzer"
        );
    }

    #[test]
    fn relayout_keeps_the_values_both_layouts_read_and_leaves_new_fields_empty() {
        let old = CardLayout::default();
        let mut specs = BTreeMap::new();
        specs.insert(
            "Contact".to_owned(),
            vec![spec("Owner.Name", "Owner"), spec("Department", "Dept")],
        );
        let new = CardLayout::from_specs(&specs);
        let row = contact_row();
        let card = CardValues::build(old.object("Contact").unwrap(), row.as_object().unwrap());
        let moved = card.relayout(new.object("Contact").unwrap()).render();
        assert_eq!(
            moved.fields,
            vec![CardField {
                label: "Owner".into(),
                value: "Ben Utzer".into()
            }]
        );
    }

    #[test]
    fn paths_that_are_not_api_names_are_refused() {
        assert!(check_path("Owner.Name").is_ok());
        assert!(check_path("Partner__r.Name").is_ok());
        assert!(check_path("Title").is_ok());
        for bad in [
            "",
            "Name, Password__c",
            "A.B.C",
            "1Title",
            "Title FROM User",
            "Owner.",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn a_value_with_the_separator_in_it_does_not_shift_the_fields_after_it() {
        let row = json!({"Name": "A\u{1f}B", "Title": "x\u{1f}y", "Email": "e@example.com"});
        let layout = CardLayout::default();
        let card =
            CardValues::build(layout.object("Contact").unwrap(), row.as_object().unwrap()).render();
        assert_eq!(card.name, "A B");
        let shown: Vec<_> = card
            .fields
            .iter()
            .map(|f| (f.label.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(shown, vec![("Title", "x y"), ("Email", "e@example.com")]);
    }
}
