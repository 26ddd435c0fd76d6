//! The objects and fields of the emulated org, described as Salesforce describes them.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Field types, named as `describe` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Id,
    Reference,
    String,
    TextArea,
    Phone,
    Email,
    Url,
    Picklist,
    Combobox,
    Boolean,
    Int,
    Currency,
    Date,
    DateTime,
}

impl Kind {
    pub(crate) fn describe_name(self) -> &'static str {
        match self {
            Kind::Id => "id",
            Kind::Reference => "reference",
            Kind::String => "string",
            Kind::TextArea => "textarea",
            Kind::Phone => "phone",
            Kind::Email => "email",
            Kind::Url => "url",
            Kind::Picklist => "picklist",
            Kind::Combobox => "combobox",
            Kind::Boolean => "boolean",
            Kind::Int => "int",
            Kind::Currency => "currency",
            Kind::Date => "date",
            Kind::DateTime => "datetime",
        }
    }

    pub(crate) fn soap_type(self) -> &'static str {
        match self {
            Kind::Id | Kind::Reference => "tns:ID",
            Kind::Boolean => "xsd:boolean",
            Kind::Int => "xsd:int",
            Kind::Currency => "xsd:double",
            Kind::Date => "xsd:date",
            Kind::DateTime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }

    /// Text-like kinds whose values are quoted strings in SOQL.
    pub(crate) fn is_text(self) -> bool {
        matches!(
            self,
            Kind::Id
                | Kind::Reference
                | Kind::String
                | Kind::TextArea
                | Kind::Phone
                | Kind::Email
                | Kind::Url
                | Kind::Picklist
                | Kind::Combobox
        )
    }
}

/// One field of an object.
#[derive(Clone, Debug)]
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub length: u32,
    pub createable: bool,
    pub updateable: bool,
    pub nillable: bool,
    pub defaulted: bool,
    pub calculated: bool,
    pub custom: bool,
    pub reference_to: &'static [&'static str],
    pub relationship: Option<&'static str>,
    pub picklist: &'static [&'static str],
    pub restricted: bool,
    pub default_value: Option<&'static str>,
}

impl FieldDef {
    fn new(name: &'static str, label: &'static str, kind: Kind) -> Self {
        let length = match kind {
            Kind::Id | Kind::Reference => 18,
            Kind::Phone => 40,
            Kind::Email => 80,
            Kind::Url | Kind::String | Kind::Combobox | Kind::Picklist => 255,
            Kind::TextArea => 32_000,
            _ => 0,
        };
        FieldDef {
            name,
            label,
            kind,
            length,
            createable: true,
            updateable: true,
            nillable: kind != Kind::Boolean,
            defaulted: kind == Kind::Boolean,
            calculated: false,
            custom: name.ends_with("__c"),
            reference_to: &[],
            relationship: None,
            picklist: &[],
            restricted: false,
            default_value: None,
        }
    }
    fn len(mut self, n: u32) -> Self {
        self.length = n;
        self
    }
    /// Read-only, system-maintained.
    fn system(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self.nillable = false;
        self.defaulted = true;
        self
    }
    fn calculated(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self.calculated = true;
        self
    }
    fn required(mut self) -> Self {
        self.nillable = false;
        self
    }
    fn create_only(mut self) -> Self {
        self.updateable = false;
        self
    }
    /// Filled by the server when absent on create (e.g. OwnerId: the running user).
    fn defaulted(mut self) -> Self {
        self.defaulted = true;
        self
    }
    fn default(mut self, value: &'static str) -> Self {
        self.defaulted = true;
        self.nillable = false;
        self.default_value = Some(value);
        self
    }
    fn picklist(mut self, values: &'static [&'static str]) -> Self {
        self.picklist = values;
        self
    }
    fn restricted(mut self) -> Self {
        self.restricted = true;
        self
    }
    fn refs(mut self, to: &'static [&'static str], relationship: &'static str) -> Self {
        self.reference_to = to;
        self.relationship = Some(relationship);
        self
    }

    /// Salesforce asks for a value on create when the field can be set, has no default and
    /// cannot be null.
    pub(crate) fn required_on_create(&self) -> bool {
        self.createable && !self.nillable && !self.defaulted && self.kind != Kind::Boolean
    }
    pub(crate) fn filterable(&self) -> bool {
        self.kind != Kind::TextArea
    }
}

/// One object (sObject type).
#[derive(Debug)]
pub(crate) struct ObjectDef {
    pub name: &'static str,
    pub label: &'static str,
    pub plural: &'static str,
    pub prefix: &'static str,
    pub fields: Vec<FieldDef>,
    pub createable: bool,
    pub deletable: bool,
    /// The field shown as the record's name (`Name`, or `Subject` for Task).
    pub name_field: &'static str,
    by_lower: HashMap<String, usize>,
    by_relationship: HashMap<String, usize>,
}

impl ObjectDef {
    fn new(
        name: &'static str,
        label: &'static str,
        plural: &'static str,
        prefix: &'static str,
        own: Vec<FieldDef>,
    ) -> Self {
        let mut fields = vec![FieldDef::new("Id", "Record ID", Kind::Id).system()];
        fields.extend(own);
        if name != "User" {
            fields.push(FieldDef::new("IsDeleted", "Deleted", Kind::Boolean).system());
        }
        fields.push(FieldDef::new("CreatedDate", "Created Date", Kind::DateTime).system());
        fields.push(
            FieldDef::new("CreatedById", "Created By ID", Kind::Reference)
                .system()
                .refs(&["User"], "CreatedBy"),
        );
        fields
            .push(FieldDef::new("LastModifiedDate", "Last Modified Date", Kind::DateTime).system());
        fields.push(
            FieldDef::new("LastModifiedById", "Last Modified By ID", Kind::Reference)
                .system()
                .refs(&["User"], "LastModifiedBy"),
        );
        fields.push(FieldDef::new("SystemModstamp", "System Modstamp", Kind::DateTime).system());
        let by_lower = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.to_ascii_lowercase(), i))
            .collect();
        let by_relationship = fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.relationship.map(|r| (r.to_ascii_lowercase(), i)))
            .collect();
        ObjectDef {
            name,
            label,
            plural,
            prefix,
            fields,
            createable: name != "User",
            deletable: name != "User",
            name_field: if name == "Task" { "Subject" } else { "Name" },
            by_lower,
            by_relationship,
        }
    }

    /// The index of a field, by name in any case.
    pub(crate) fn field_index(&self, name: &str) -> Option<usize> {
        self.by_lower.get(&name.to_ascii_lowercase()).copied()
    }

    /// The reference field behind a relationship name (`Owner` -> `OwnerId`).
    pub(crate) fn relationship_index(&self, name: &str) -> Option<usize> {
        self.by_relationship
            .get(&name.to_ascii_lowercase())
            .copied()
    }

    pub(crate) fn field(&self, idx: usize) -> &FieldDef {
        &self.fields[idx]
    }
}

/// Object positions in [`Schema::objects`].
pub(crate) const ACCOUNT: usize = 0;
pub(crate) const CONTACT: usize = 1;
pub(crate) const LEAD: usize = 2;
pub(crate) const TASK: usize = 3;
pub(crate) const USER: usize = 4;

/// Every object of the org.
#[derive(Debug)]
pub(crate) struct Schema {
    pub objects: Vec<ObjectDef>,
}

impl Schema {
    /// The object of that name, in any case.
    pub(crate) fn object_index(&self, name: &str) -> Option<usize> {
        self.objects
            .iter()
            .position(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The object whose ids start with `id`'s key prefix.
    pub(crate) fn object_of_id(&self, id: &str) -> Option<usize> {
        let prefix = id.get(..3)?;
        self.objects.iter().position(|o| o.prefix == prefix)
    }

    pub(crate) fn obj(&self, idx: usize) -> &ObjectDef {
        &self.objects[idx]
    }
}

const ACCOUNT_TYPES: &[&str] = &[
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
];
const INDUSTRIES: &[&str] = &[
    "Banking",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Retail",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Other",
];
const SALUTATIONS: &[&str] = &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."];
/// Lead statuses of a default org.
pub(crate) const LEAD_STATUSES: &[&str] = &[
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
];
const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const TASK_STATUSES: &[&str] = &[
    "Not Started",
    "In Progress",
    "Completed",
    "Waiting on someone else",
    "Deferred",
];
const TASK_PRIORITIES: &[&str] = &["High", "Normal", "Low"];
const TASK_SUBTYPES: &[&str] = &["Task", "Email", "ListEmail", "Cadence", "Call"];
/// The values of the restricted `Task.CallType` picklist.
pub(crate) const CALL_TYPES: &[&str] = &["Inbound", "Outbound", "Internal"];

fn owner() -> FieldDef {
    FieldDef::new("OwnerId", "Owner ID", Kind::Reference)
        .refs(&["User"], "Owner")
        .required()
        .defaulted()
}

fn build() -> Schema {
    use Kind as K;
    let account = ObjectDef::new(
        "Account",
        "Account",
        "Accounts",
        "001",
        vec![
            FieldDef::new("Name", "Account Name", K::String).required(),
            FieldDef::new("Type", "Account Type", K::Picklist).picklist(ACCOUNT_TYPES),
            FieldDef::new("Industry", "Industry", K::Picklist).picklist(INDUSTRIES),
            FieldDef::new("Phone", "Account Phone", K::Phone),
            FieldDef::new("Fax", "Account Fax", K::Phone),
            FieldDef::new("Website", "Website", K::Url),
            FieldDef::new("AnnualRevenue", "Annual Revenue", K::Currency),
            FieldDef::new("NumberOfEmployees", "Employees", K::Int),
            FieldDef::new("BillingStreet", "Billing Street", K::TextArea).len(255),
            FieldDef::new("BillingCity", "Billing City", K::String).len(40),
            FieldDef::new("BillingPostalCode", "Billing Zip/Postal Code", K::String).len(20),
            FieldDef::new("BillingCountry", "Billing Country", K::String).len(80),
            FieldDef::new("Description", "Account Description", K::TextArea),
            owner(),
        ],
    );
    let contact = ObjectDef::new(
        "Contact",
        "Contact",
        "Contacts",
        "003",
        vec![
            FieldDef::new("AccountId", "Account ID", K::Reference).refs(&["Account"], "Account"),
            FieldDef::new("Salutation", "Salutation", K::Picklist).picklist(SALUTATIONS),
            FieldDef::new("FirstName", "First Name", K::String).len(40),
            FieldDef::new("LastName", "Last Name", K::String)
                .len(80)
                .required(),
            FieldDef::new("Name", "Full Name", K::String)
                .len(121)
                .calculated(),
            FieldDef::new("Title", "Title", K::String).len(128),
            FieldDef::new("Department", "Department", K::String).len(80),
            FieldDef::new("Email", "Email", K::Email),
            FieldDef::new("Phone", "Business Phone", K::Phone),
            FieldDef::new("MobilePhone", "Mobile Phone", K::Phone),
            FieldDef::new("HomePhone", "Home Phone", K::Phone),
            FieldDef::new("OtherPhone", "Other Phone", K::Phone),
            FieldDef::new("AssistantName", "Assistant's Name", K::String).len(40),
            FieldDef::new("AssistantPhone", "Asst. Phone", K::Phone),
            FieldDef::new("Fax", "Business Fax", K::Phone),
            FieldDef::new("Assistant_Direct__c", "Assistant Direct", K::Phone),
            FieldDef::new("MailingStreet", "Mailing Street", K::TextArea).len(255),
            FieldDef::new("MailingCity", "Mailing City", K::String).len(40),
            FieldDef::new("MailingPostalCode", "Mailing Zip/Postal Code", K::String).len(20),
            FieldDef::new("MailingCountry", "Mailing Country", K::String).len(80),
            FieldDef::new("DoNotCall", "Do Not Call", K::Boolean),
            FieldDef::new("Description", "Contact Description", K::TextArea),
            owner(),
        ],
    );
    let lead = ObjectDef::new(
        "Lead",
        "Lead",
        "Leads",
        "00Q",
        vec![
            FieldDef::new("Salutation", "Salutation", K::Picklist).picklist(SALUTATIONS),
            FieldDef::new("FirstName", "First Name", K::String).len(40),
            FieldDef::new("LastName", "Last Name", K::String)
                .len(80)
                .required(),
            FieldDef::new("Name", "Full Name", K::String)
                .len(121)
                .calculated(),
            FieldDef::new("Title", "Title", K::String).len(128),
            FieldDef::new("Company", "Company", K::String).required(),
            FieldDef::new("Status", "Status", K::Picklist)
                .picklist(LEAD_STATUSES)
                .restricted()
                .default("Open - Not Contacted"),
            FieldDef::new("Email", "Email", K::Email),
            FieldDef::new("Phone", "Phone", K::Phone),
            FieldDef::new("MobilePhone", "Mobile Phone", K::Phone),
            FieldDef::new("Fax", "Fax", K::Phone),
            FieldDef::new("LeadSource", "Lead Source", K::Picklist).picklist(LEAD_SOURCES),
            FieldDef::new("Industry", "Industry", K::Picklist).picklist(INDUSTRIES),
            FieldDef::new("City", "City", K::String).len(40),
            FieldDef::new("PostalCode", "Zip/Postal Code", K::String).len(20),
            FieldDef::new("Country", "Country", K::String).len(80),
            FieldDef::new("IsConverted", "Converted", K::Boolean).system(),
            FieldDef::new("DoNotCall", "Do Not Call", K::Boolean),
            FieldDef::new("Description", "Description", K::TextArea),
            owner(),
        ],
    );
    let task = ObjectDef::new(
        "Task",
        "Task",
        "Tasks",
        "00T",
        vec![
            FieldDef::new("WhoId", "Name ID", K::Reference).refs(&["Contact", "Lead"], "Who"),
            FieldDef::new("WhatId", "Related To ID", K::Reference).refs(&["Account"], "What"),
            FieldDef::new("Subject", "Subject", K::Combobox).picklist(&[
                "Call",
                "Send Letter",
                "Send Quote",
                "Other",
            ]),
            FieldDef::new("ActivityDate", "Due Date Only", K::Date),
            FieldDef::new("Status", "Status", K::Picklist)
                .picklist(TASK_STATUSES)
                .restricted()
                .default("Not Started"),
            FieldDef::new("Priority", "Priority", K::Picklist)
                .picklist(TASK_PRIORITIES)
                .restricted()
                .default("Normal"),
            FieldDef::new("IsClosed", "Closed", K::Boolean).system(),
            owner(),
            FieldDef::new("Description", "Comments", K::TextArea),
            FieldDef::new("TaskSubtype", "Task Subtype", K::Picklist)
                .picklist(TASK_SUBTYPES)
                .restricted()
                .create_only(),
            FieldDef::new("CallType", "Call Type", K::Picklist)
                .picklist(CALL_TYPES)
                .restricted(),
            FieldDef::new("CallDurationInSeconds", "Call Duration", K::Int),
            FieldDef::new("CallObject", "Call Object Identifier", K::String),
            FieldDef::new("CallDisposition", "Call Result", K::String),
        ],
    );
    let user = ObjectDef::new(
        "User",
        "User",
        "Users",
        "005",
        vec![
            FieldDef::new("Username", "Username", K::String)
                .len(80)
                .required(),
            FieldDef::new("FirstName", "First Name", K::String).len(40),
            FieldDef::new("LastName", "Last Name", K::String)
                .len(80)
                .required(),
            FieldDef::new("Name", "Full Name", K::String)
                .len(121)
                .calculated(),
            FieldDef::new("Email", "Email", K::Email).required(),
            FieldDef::new("Alias", "Alias", K::String).len(8).required(),
            FieldDef::new("IsActive", "Active", K::Boolean),
            FieldDef::new("UserType", "User Type", K::Picklist)
                .picklist(&["Standard"])
                .system(),
            FieldDef::new("Phone", "Phone", K::Phone),
            FieldDef::new("MobilePhone", "Mobile", K::Phone),
            FieldDef::new("Extension", "Extension", K::Phone),
            FieldDef::new("TimeZoneSidKey", "Time Zone", K::Picklist)
                .picklist(&[
                    "Europe/Berlin",
                    "Europe/Vienna",
                    "Europe/Zurich",
                    "America/Los_Angeles",
                ])
                .restricted()
                .required(),
            FieldDef::new("LocaleSidKey", "Locale", K::Picklist)
                .picklist(&["de_DE", "de_AT", "de_CH", "en_US"])
                .restricted()
                .required(),
            FieldDef::new("LanguageLocaleKey", "Language", K::Picklist)
                .picklist(&["de", "en_US"])
                .restricted()
                .required(),
        ],
    );
    Schema {
        objects: vec![account, contact, lead, task, user],
    }
}

/// The org's schema, built once.
pub(crate) static SCHEMA: LazyLock<Schema> = LazyLock::new(build);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn objects_sit_at_their_constant_positions() {
        assert_eq!(SCHEMA.obj(ACCOUNT).name, "Account");
        assert_eq!(SCHEMA.obj(CONTACT).name, "Contact");
        assert_eq!(SCHEMA.obj(LEAD).name, "Lead");
        assert_eq!(SCHEMA.obj(TASK).name, "Task");
        assert_eq!(SCHEMA.obj(USER).name, "User");
    }

    #[test]
    fn fields_and_relationships_resolve_in_any_case() {
        let c = SCHEMA.obj(CONTACT);
        assert_eq!(c.field(c.field_index("lastname").unwrap()).name, "LastName");
        assert_eq!(
            c.field(c.relationship_index("OWNER").unwrap()).name,
            "OwnerId"
        );
        assert!(
            c.field(c.field_index("LastName").unwrap())
                .required_on_create()
        );
        assert!(
            !c.field(c.field_index("OwnerId").unwrap())
                .required_on_create()
        );
    }
}
