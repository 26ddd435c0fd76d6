//! Request and response types of the REST API, as far as the connector reads them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ctibridge_domain::SalesforceId;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ApiError;

/// A REST API version such as `62.0`; Salesforce numbers its releases `NN.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(u16);

impl ApiVersion {
    /// The version the connector is written against (Winter '25); every current org serves it.
    pub const DEFAULT: Self = Self(62);

    /// The version with this major number.
    pub const fn new(major: u16) -> Self {
        Self(major)
    }

    /// The major number.
    pub const fn major(self) -> u16 {
        self.0
    }

    /// The path prefix of the REST API, e.g. `/services/data/v62.0`.
    pub fn data_path(self) -> String {
        format!("/services/data/v{}.0", self.0)
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.0", self.0)
    }
}

/// An API version that is not `NN.0`, `vNN.0` or `NN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API version {0:?} is not of the form 62.0 (Salesforce versions are NN.0, from 20.0)")]
pub struct InvalidApiVersion(String);

impl FromStr for ApiVersion {
    type Err = InvalidApiVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidApiVersion(s.to_owned());
        let text = s.trim();
        let text = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        let major = text.strip_suffix(".0").unwrap_or(text);
        let major: u16 = major.parse().map_err(|_| invalid())?;
        if !(20..1000).contains(&major) {
            return Err(invalid());
        }
        Ok(Self(major))
    }
}

/// One batch of a SOQL query result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage<T> {
    /// Rows the whole query matches (for `COUNT()` queries the count itself).
    pub total_size: u64,
    /// Whether this is the last batch.
    pub done: bool,
    /// Path of the next batch (`/services/data/vNN.0/query/<locator>-2000`) while `done` is false.
    #[serde(default)]
    pub next_records_url: Option<String>,
    /// The rows of this batch; each carries `attributes: {type, url}` unless `T` drops it.
    #[serde(default = "Vec::new")]
    pub records: Vec<T>,
}

/// Every row of a query, and how many REST calls it took to read them.
#[derive(Debug, Clone, PartialEq)]
pub struct AllRecords<T> {
    /// The rows in Salesforce's order.
    pub records: Vec<T>,
    /// Query calls made (one per batch); token requests are not API calls and are not counted.
    pub api_calls: u32,
}

/// What `describe` says about an sObject.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDescribe {
    /// API name, e.g. `Contact`.
    pub name: String,
    /// Label in the org's language.
    #[serde(default)]
    pub label: String,
    /// Whether the run-as user may create records of it.
    #[serde(default)]
    pub createable: bool,
    /// Whether the run-as user may update records of it.
    #[serde(default)]
    pub updateable: bool,
    /// The fields the run-as user can see (field-level security hides the others).
    #[serde(default)]
    pub fields: Vec<FieldDescribe>,
}

impl ObjectDescribe {
    /// Fields of type `phone`, standard and custom, in describe order.
    pub fn phone_fields(&self) -> impl Iterator<Item = &FieldDescribe> {
        self.fields.iter().filter(|f| f.is_phone())
    }

    /// The field of this API name (case-insensitive, as Salesforce treats names).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// What `describe` says about one field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    /// API name, e.g. `MobilePhone` or `Direct_Line__c`.
    pub name: String,
    /// Label in the org's language.
    #[serde(default)]
    pub label: String,
    /// Salesforce's field type: `phone`, `string`, `picklist`, `reference`, `id`, ...
    #[serde(rename = "type")]
    pub field_type: String,
    /// Whether the run-as user may set it on create.
    #[serde(default)]
    pub createable: bool,
    /// Whether the run-as user may change it.
    #[serde(default)]
    pub updateable: bool,
    /// Whether it may be empty.
    #[serde(default)]
    pub nillable: bool,
    /// Whether it is a custom field (`__c`).
    #[serde(default)]
    pub custom: bool,
    /// Maximum length for text types, 0 otherwise.
    #[serde(default)]
    pub length: u32,
    /// Whether a picklist accepts only its listed values.
    #[serde(default)]
    pub restricted_picklist: bool,
    /// Values of a picklist.
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
    /// Objects a `reference` field may point to.
    #[serde(default)]
    pub reference_to: Vec<String>,
}

impl FieldDescribe {
    /// Whether Salesforce types it as a phone number.
    pub fn is_phone(&self) -> bool {
        self.field_type.eq_ignore_ascii_case("phone")
    }
}

/// One value of a picklist field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// API value written to the record.
    pub value: String,
    /// Label shown to users.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether it can be chosen today.
    #[serde(default)]
    pub active: bool,
}

/// The answer to `POST /sobjects/<Type>/`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CreateResponse {
    pub id: Option<String>,
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiError>,
}

/// The outcome of one record of a composite call, in the order the records were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositeResult {
    /// Id of the written record; absent when it failed.
    #[serde(default)]
    pub id: Option<SalesforceId>,
    /// Whether this record was written.
    pub success: bool,
    /// Why it was not (validation rules, required fields, field-level security).
    #[serde(default)]
    pub errors: Vec<ApiError>,
}

/// Ids changed in a window (`/sobjects/<Type>/updated/`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatedRecords {
    /// Ids whose `SystemModstamp` falls into the window.
    #[serde(default)]
    pub ids: Vec<SalesforceId>,
    /// The end of the window Salesforce actually covered: the next window starts here.
    #[serde(deserialize_with = "deserialize_sf_datetime")]
    pub latest_date_covered: DateTime<Utc>,
}

/// Deletions in a window (`/sobjects/<Type>/deleted/`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecords {
    /// The records deleted in the window.
    #[serde(default)]
    pub deleted_records: Vec<DeletedRecord>,
    /// Oldest deletion the org still remembers: a watermark before it needs a full sync.
    #[serde(deserialize_with = "deserialize_sf_datetime")]
    pub earliest_date_available: DateTime<Utc>,
    /// The end of the window Salesforce actually covered.
    #[serde(deserialize_with = "deserialize_sf_datetime")]
    pub latest_date_covered: DateTime<Utc>,
}

/// One deleted record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    /// Id the record had.
    pub id: SalesforceId,
    /// When it was deleted.
    #[serde(deserialize_with = "deserialize_sf_datetime")]
    pub deleted_date: DateTime<Utc>,
}

/// The org's limits (`/limits/`), by name such as `DailyApiRequests`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Limits(pub BTreeMap<String, Limit>);

impl Limits {
    /// The limit of this name.
    pub fn get(&self, name: &str) -> Option<&Limit> {
        self.0.get(name)
    }

    /// The daily REST/SOAP request allowance, the one `REQUEST_LIMIT_EXCEEDED` is about.
    pub fn daily_api_requests(&self) -> Option<&Limit> {
        self.get("DailyApiRequests")
    }
}

/// One limit: its maximum and what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Limit {
    /// The allowance.
    #[serde(rename = "Max")]
    pub max: i64,
    /// What is left of it.
    #[serde(rename = "Remaining")]
    pub remaining: i64,
}

/// Reads Salesforce's timestamps: `2024-05-03T15:57:00.000+0000` (no colon in the offset, so not
/// RFC 3339) and RFC 3339 itself.
pub(crate) fn parse_sf_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn deserialize_sf_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_sf_datetime(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("not a Salesforce timestamp: {text:?}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pretty_assertions::assert_eq;

    #[test]
    fn api_version_accepts_the_usual_spellings() {
        for text in ["62.0", "v62.0", "62", " V62.0 "] {
            assert_eq!(
                text.parse::<ApiVersion>(),
                Ok(ApiVersion::new(62)),
                "{text}"
            );
        }
        assert_eq!(ApiVersion::new(62).data_path(), "/services/data/v62.0");
        assert_eq!(ApiVersion::new(62).to_string(), "62.0");
    }

    #[test]
    fn api_version_rejects_minor_versions_and_nonsense() {
        for text in ["62.1", "", "v", "abc", "5.0", "62.0.0"] {
            assert!(text.parse::<ApiVersion>().is_err(), "{text}");
        }
    }

    #[test]
    fn query_page_reads_next_records_url_and_done() {
        let body = r#"{"totalSize":4500,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gRO0000016PIAYA2-2000","records":[{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/003000000000001AAA"},"Id":"003000000000001AAA"}]}"#;
        let page: QueryPage<serde_json::Value> = serde_json::from_str(body).unwrap();
        assert_eq!(page.total_size, 4500);
        assert!(!page.done);
        assert_eq!(
            page.next_records_url.as_deref(),
            Some("/services/data/v62.0/query/01gRO0000016PIAYA2-2000")
        );
        assert_eq!(page.records[0]["Id"], "003000000000001AAA");

        let last: QueryPage<serde_json::Value> =
            serde_json::from_str(r#"{"totalSize":1,"done":true,"records":[]}"#).unwrap();
        assert!(last.done);
        assert_eq!(last.next_records_url, None);
    }

    #[test]
    fn describe_lists_standard_and_custom_phone_fields() {
        let body = r#"{"name":"Contact","label":"Contact","createable":true,"updateable":true,"fields":[
            {"name":"Id","label":"Contact ID","type":"id","createable":false,"updateable":false,"nillable":false,"custom":false,"length":18},
            {"name":"Phone","label":"Business Phone","type":"phone","createable":true,"updateable":true,"nillable":true,"custom":false,"length":40},
            {"name":"Email","label":"Email","type":"email","createable":true,"updateable":true},
            {"name":"Direct_Line__c","label":"Direct line","type":"phone","custom":true,"length":40}]}"#;
        let describe: ObjectDescribe = serde_json::from_str(body).unwrap();
        let phones: Vec<&str> = describe.phone_fields().map(|f| f.name.as_str()).collect();
        assert_eq!(phones, vec!["Phone", "Direct_Line__c"]);
        assert!(describe.field("direct_line__c").unwrap().custom);
    }

    #[test]
    fn salesforce_timestamps_without_offset_colon_parse() {
        let expected = Utc.with_ymd_and_hms(2024, 5, 3, 15, 57, 0).unwrap();
        assert_eq!(
            parse_sf_datetime("2024-05-03T15:57:00.000+0000"),
            Some(expected)
        );
        assert_eq!(parse_sf_datetime("2024-05-03T15:57:00Z"), Some(expected));
        assert_eq!(
            parse_sf_datetime("2024-05-03T17:57:00.000+02:00"),
            Some(expected)
        );
        assert_eq!(parse_sf_datetime("yesterday"), None);
    }

    #[test]
    fn deleted_records_parse_with_their_dates() {
        let body = r#"{"deletedRecords":[{"id":"003000000000002AAA","deletedDate":"2024-05-03T10:00:00.000+0000"}],
            "earliestDateAvailable":"2024-04-20T00:00:00.000+0000","latestDateCovered":"2024-05-04T00:00:00.000+0000"}"#;
        let deleted: DeletedRecords = serde_json::from_str(body).unwrap();
        assert_eq!(deleted.deleted_records[0].id.as_str(), "003000000000002AAA");
        assert_eq!(
            deleted.earliest_date_available,
            Utc.with_ymd_and_hms(2024, 4, 20, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn limits_ignore_per_app_breakdowns() {
        let body = r#"{"DailyApiRequests":{"Max":15000,"Remaining":14998,"Ant Migration Tool":{"Max":0,"Remaining":0}},"DataStorageMB":{"Max":5,"Remaining":5}}"#;
        let limits: Limits = serde_json::from_str(body).unwrap();
        assert_eq!(
            limits.daily_api_requests(),
            Some(&Limit {
                max: 15000,
                remaining: 14998
            })
        );
    }
}
