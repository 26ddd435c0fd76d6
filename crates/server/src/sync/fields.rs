//! What the sync reads of each object, and how a query row becomes a cached record.

use chrono::{DateTime, SecondsFormat, Utc};
use ctibridge_domain::ObjectType;
use ctibridge_phone::{CountryHint, Normaliser, NumberContext};
use ctibridge_salesforce::ObjectDescribe;
use ctibridge_store::{PhoneValue, Record};
use serde_json::{Map, Value};

use crate::cards::CardLayout;

/// The objects whose phone numbers identify a caller, in the default object priority.
pub(crate) const OBJECTS: [ObjectType; 3] =
    [ObjectType::Contact, ObjectType::Lead, ObjectType::Account];

/// Contact fields the address-book export needs besides those the card and the index read.
pub(crate) const EXPORT_FIELDS: &[&str] = &[
    "FirstName",
    "LastName",
    "Salutation",
    "Title",
    "Email",
    "Account.Name",
    "MailingStreet",
    "MailingPostalCode",
    "MailingCity",
    "MailingCountry",
];

/// Fields read besides the card fields and the phone fields: what call logging needs later,
/// and the address country by whose plan national numbers are read.
fn extra_fields(object: &ObjectType) -> &'static [&'static str] {
    match object {
        ObjectType::Contact => &["AccountId", "OwnerId", "MailingCountry"],
        ObjectType::Lead => &["OwnerId", "Country"],
        _ => &["OwnerId", "BillingCountry"],
    }
}

/// The address country field of an object.
fn country_field(object: &ObjectType) -> &'static str {
    match object {
        ObjectType::Contact => "MailingCountry",
        ObjectType::Lead => "Country",
        _ => "BillingCountry",
    }
}

/// The country of a record's address, as a hint for its national numbers.
pub(crate) fn country_of(object: &ObjectType, fields: &Map<String, Value>) -> Option<CountryHint> {
    fields
        .get(country_field(object))
        .and_then(Value::as_str)
        .and_then(CountryHint::from_text)
}

/// How a record's phone values are read: by its address country's plan when it has one.
pub(crate) fn number_context(object: &ObjectType, fields: &Map<String, Value>) -> NumberContext {
    country_of(object, fields).map_or(NumberContext::Stored, NumberContext::StoredIn)
}

/// The field that must be visible for a query path: `Owner.Name` needs `OwnerId`,
/// `Partner__r.Name` needs `Partner__c`.
pub fn field_behind(path: &str) -> String {
    match path.split_once('.') {
        None => path.to_owned(),
        Some((rel, _)) => match rel.strip_suffix("__r") {
            Some(custom) => format!("{custom}__c"),
            None => format!("{rel}Id"),
        },
    }
}

/// The fields every record of `object` is read with (before the phone fields, which describe
/// finds) under the default card layout: the card's, what call logging needs, the address
/// country, and with `export` what the address book needs. The doctor checks the run-as user
/// can see exactly these.
pub fn required_fields(object: &ObjectType, export: bool) -> Vec<String> {
    required_fields_for(object, export, &CardLayout::default())
}

/// [`required_fields`] under an instance's card layout.
pub fn required_fields_for(object: &ObjectType, export: bool, layout: &CardLayout) -> Vec<String> {
    let mut fields: Vec<String> = ["Id", "Name", "SystemModstamp"]
        .into_iter()
        .map(str::to_owned)
        .chain(layout.query_fields(object.as_str()))
        .chain(extra_fields(object).iter().map(|f| (*f).to_owned()))
        .chain(
            if export && *object == ObjectType::Contact {
                EXPORT_FIELDS
            } else {
                &[]
            }
            .iter()
            .map(|f| (*f).to_owned()),
        )
        .collect();
    let mut seen = std::collections::HashSet::new();
    fields.retain(|f| seen.insert(f.to_ascii_lowercase()));
    fields
}

/// The query of one object: its fields in a stable order, and which of them are phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectPlan {
    pub object: ObjectType,
    /// The card layout's fields the plan was made for: another layout needs another plan.
    pub card_fields: Vec<String>,
    pub fields: Vec<String>,
    pub phone_fields: Vec<String>,
}

impl ObjectPlan {
    /// The plan for `object` from its describe: the fields every record needs plus every phone
    /// field the run-as user can see. `Err` names the needed fields the describe lacks (hidden
    /// by field-level security, or not in this org).
    #[cfg(test)]
    pub fn from_describe(
        object: &ObjectType,
        describe: &ObjectDescribe,
        export: bool,
    ) -> Result<Self, Vec<String>> {
        Self::from_describe_for(object, describe, export, &CardLayout::default())
    }

    /// [`ObjectPlan::from_describe`] under an instance's card layout.
    pub fn from_describe_for(
        object: &ObjectType,
        describe: &ObjectDescribe,
        export: bool,
        layout: &CardLayout,
    ) -> Result<Self, Vec<String>> {
        let mut fields: Vec<String> = required_fields_for(object, export, layout);
        let phone_fields: Vec<String> = describe.phone_fields().map(|f| f.name.clone()).collect();
        let mut missing: Vec<String> = fields
            .iter()
            .map(|f| field_behind(f))
            .filter(|f| describe.field(f).is_none())
            .collect();
        if !missing.is_empty() {
            let mut seen = std::collections::HashSet::new();
            missing.retain(|f| seen.insert(f.clone()));
            return Err(missing);
        }
        fields.extend(phone_fields.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        fields.retain(|f| seen.insert(f.to_ascii_lowercase()));
        Ok(Self {
            object: object.clone(),
            card_fields: layout.query_fields(object.as_str()),
            fields,
            phone_fields,
        })
    }

    /// The fields as one comparable text: a change means the cached records lack a field.
    pub fn fingerprint(&self) -> String {
        self.fields.join(",")
    }

    /// The SOQL of a full read (`since` = `None`) or of the changes after `since`, oldest
    /// first: whatever changes while the pages are read has a later `SystemModstamp` than the
    /// newest row read, so the next read finds it.
    pub fn soql(&self, since: Option<DateTime<Utc>>) -> String {
        let filter = since
            .map(|t| {
                format!(
                    " WHERE SystemModstamp > {}",
                    t.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            })
            .unwrap_or_default();
        format!(
            "SELECT {} FROM {}{filter} ORDER BY SystemModstamp ASC",
            self.fields.join(", "),
            self.object
        )
    }

    /// A query row as the store keeps it; `None` for a row without an id.
    pub fn to_record(
        &self,
        row: &Map<String, Value>,
        normaliser: &dyn Normaliser,
    ) -> Option<Record> {
        let sf_id = row.get("Id")?.as_str()?.to_owned();
        let name = row
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let system_modstamp = row
            .get("SystemModstamp")
            .and_then(Value::as_str)
            .and_then(parse_sf_datetime);
        let ctx = number_context(&self.object, row);
        let phones = self
            .phone_fields
            .iter()
            .filter_map(|f| {
                let raw = row.get(f)?.as_str()?.to_owned();
                let e164 = normaliser
                    .classify(&raw, ctx)
                    .e164()
                    .map(|e| e.as_str().to_owned());
                Some(PhoneValue {
                    field: f.clone(),
                    raw,
                    e164,
                })
            })
            .collect();
        let fields = row
            .iter()
            .filter(|(k, _)| k.as_str() != "attributes" && !self.phone_fields.contains(k))
            .map(|(k, v)| (k.clone(), strip_attributes(v)))
            .collect();
        Some(Record {
            object_type: self.object.as_str().to_owned(),
            sf_id,
            name,
            fields,
            phones,
            system_modstamp,
        })
    }
}

/// Relationship values (`Owner: {attributes, Name}`) without Salesforce's `attributes`.
fn strip_attributes(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "attributes")
                .map(|(k, v)| (k.clone(), strip_attributes(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Salesforce's `2024-05-01T10:00:00.000+0000` (and RFC 3339).
pub(crate) fn parse_sf_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    fn describe(fields: &[(&str, &str)]) -> ObjectDescribe {
        let fields: Vec<Value> = fields
            .iter()
            .map(|(n, t)| serde_json::json!({"name": n, "type": t}))
            .collect();
        serde_json::from_value(serde_json::json!({"name": "X", "fields": fields})).unwrap()
    }

    fn contact_describe(without: &str) -> ObjectDescribe {
        let all = [
            ("Id", "id"),
            ("Name", "string"),
            ("SystemModstamp", "datetime"),
            ("AccountId", "reference"),
            ("OwnerId", "reference"),
            ("Title", "string"),
            ("Email", "email"),
            ("MailingCountry", "string"),
            ("Phone", "phone"),
            ("Direct__c", "phone"),
        ];
        let kept: Vec<(&str, &str)> = all.into_iter().filter(|(n, _)| *n != without).collect();
        describe(&kept)
    }

    #[test]
    fn plan_reads_card_fields_and_every_visible_phone_field_once() {
        let plan =
            ObjectPlan::from_describe(&ObjectType::Contact, &contact_describe(""), false).unwrap();
        assert_eq!(plan.phone_fields, vec!["Phone", "Direct__c"]);
        for f in [
            "Id",
            "Name",
            "SystemModstamp",
            "Owner.Name",
            "Account.Name",
            "Phone",
            "Direct__c",
        ] {
            assert!(
                plan.fields.iter().any(|x| x == f),
                "{f} in {:?}",
                plan.fields
            );
        }
        let lower: std::collections::HashSet<String> =
            plan.fields.iter().map(|f| f.to_ascii_lowercase()).collect();
        assert_eq!(lower.len(), plan.fields.len());
    }

    #[test]
    fn plan_names_a_needed_field_that_field_level_security_hides() {
        let err =
            ObjectPlan::from_describe(&ObjectType::Contact, &contact_describe("OwnerId"), false)
                .unwrap_err();
        assert_eq!(err, vec!["OwnerId"]);
    }

    #[test]
    fn changes_are_read_oldest_first_after_the_watermark_in_whole_seconds() {
        let plan = ObjectPlan::from_describe(
            &ObjectType::Lead,
            &describe(&[
                ("Id", "id"),
                ("Name", "string"),
                ("SystemModstamp", "datetime"),
                ("OwnerId", "reference"),
                ("Company", "string"),
                ("Status", "picklist"),
                ("Email", "email"),
                ("Country", "string"),
            ]),
            false,
        )
        .unwrap();
        let since = parse_sf_datetime("2024-05-01T10:00:00.750+0000").unwrap();
        let soql = plan.soql(Some(since));
        assert!(
            soql.ends_with(
                "FROM Lead WHERE SystemModstamp > 2024-05-01T10:00:00Z ORDER BY SystemModstamp ASC"
            ),
            "{soql}"
        );
        assert!(
            plan.soql(None)
                .ends_with("FROM Lead ORDER BY SystemModstamp ASC")
        );
    }

    #[test]
    fn relationship_paths_need_their_reference_field() {
        assert_eq!(field_behind("Owner.Name"), "OwnerId");
        assert_eq!(field_behind("Partner__r.Name"), "Partner__c");
        assert_eq!(field_behind("Email"), "Email");
    }
}
