//! Records in memory and the rules Salesforce applies when they are written.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::errors::SaveError;
use crate::ids;
use crate::schema::{FieldDef, Kind, ObjectDef, SCHEMA, TASK};
use crate::time::{self, Millis};

/// A field value as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Str(Box<str>),
    Bool(bool),
    Int(i64),
    Num(f64),
    /// Days since the epoch.
    Date(i32),
    /// Milliseconds since the epoch.
    Time(Millis),
}

impl Val {
    pub(crate) fn str(s: &str) -> Val {
        if s.is_empty() {
            Val::Null
        } else {
            Val::Str(s.into())
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The JSON value the REST API returns for this value.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Str(s) => Value::String(s.to_string()),
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Val::Date(d) => Value::String(time::format_date(*d)),
            Val::Time(t) => Value::String(time::format_datetime(*t)),
        }
    }

    /// SOQL ordering: nulls aside, text compares case-insensitively.
    pub(crate) fn compare(&self, other: &Val) -> Ordering {
        match (self, other) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => Ordering::Less,
            (_, Val::Null) => Ordering::Greater,
            (Val::Str(a), Val::Str(b)) => cmp_ci(a, b),
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Date(a), Val::Date(b)) => a.cmp(b),
            (Val::Time(a), Val::Time(b)) => a.cmp(b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                _ => Ordering::Equal,
            },
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }
}

fn cmp_ci(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// One record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub id: Box<str>,
    pub vals: Box<[Val]>,
    pub deleted_at: Option<Millis>,
}

impl Record {
    pub(crate) fn get(&self, obj: &ObjectDef, field: &str) -> &Val {
        obj.field_index(field)
            .and_then(|i| self.vals.get(i))
            .unwrap_or(&Val::Null)
    }

    pub(crate) fn modstamp(&self, obj: &ObjectDef) -> Millis {
        match self.get(obj, "SystemModstamp") {
            Val::Time(t) => *t,
            _ => 0,
        }
    }

    /// All fields as the REST API returns a record, without hidden fields.
    pub(crate) fn to_json(
        &self,
        obj_idx: usize,
        version: &str,
        hidden: &HashSet<(usize, usize)>,
    ) -> Value {
        let obj = SCHEMA.obj(obj_idx);
        let mut map = Map::new();
        map.insert("attributes".into(), attributes(obj.name, &self.id, version));
        for (i, f) in obj.fields.iter().enumerate() {
            if hidden.contains(&(obj_idx, i)) {
                continue;
            }
            map.insert(f.name.into(), self.vals[i].to_json());
        }
        Value::Object(map)
    }
}

/// `{"type": ..., "url": ...}` as every REST record carries.
pub(crate) fn attributes(object: &str, id: &str, version: &str) -> Value {
    serde_json::json!({
        "type": object,
        "url": format!("/services/data/v{version}/sobjects/{object}/{id}"),
    })
}

/// The records of one object, in creation order. Ids are sequential, so a record's index is
/// its id's counter minus the table's first counter.
#[derive(Debug)]
pub(crate) struct Table {
    pub records: Vec<Record>,
    first_counter: u64,
}

impl Table {
    fn new(first_counter: u64) -> Self {
        Table {
            records: Vec::new(),
            first_counter,
        }
    }

    /// The counter the next record's id gets.
    pub(crate) fn next_counter(&self) -> u64 {
        self.first_counter + self.records.len() as u64
    }

    /// Appends a record whose id came from [`Table::next_counter`].
    pub(crate) fn push(&mut self, record: Record) {
        self.records.push(record);
    }

    fn index_of(&self, id18: &str) -> Option<usize> {
        let counter = ids::counter_of(id18)?;
        let idx = usize::try_from(counter.checked_sub(self.first_counter)?).ok()?;
        (self.records.get(idx)?.id.as_ref() == id18).then_some(idx)
    }
}

/// A condition of a validation rule set through the control API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleCondition {
    /// The field is empty.
    Blank,
    /// The field equals this text (case-insensitive).
    Equals(String),
    /// The field contains this text (case-insensitive).
    Contains(String),
}

/// A validation rule: saving a record of `object` whose `field` meets `condition` fails with
/// `FIELD_CUSTOM_VALIDATION_EXCEPTION` and `message`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidationRule {
    /// Object API name, e.g. `Task`.
    pub object: String,
    /// Field API name, e.g. `Subject`.
    pub field: String,
    /// When the rule fires.
    pub condition: RuleCondition,
    /// The error message users see.
    pub message: String,
}

/// Who writes and how strictly the API's rules apply.
#[derive(Debug, Clone)]
pub(crate) struct WriteCtx {
    pub user_id: String,
    pub now: Millis,
    /// Control-API writes may set system fields and skip field-level security.
    pub trusted: bool,
}

/// Why a write to one record failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WriteError {
    NotFound,
    Deleted,
    Invalid(Vec<SaveError>),
}

/// All records plus the org settings that change how they are read and written.
#[derive(Debug)]
pub(crate) struct Data {
    pub tables: Vec<Table>,
    /// (object, field) pairs hidden from the API user by field-level security.
    pub hidden: HashSet<(usize, usize)>,
    pub rules: Vec<ValidationRule>,
    /// Deletions before this instant are no longer in the delete log.
    pub delete_log_since: Millis,
}

impl Data {
    pub(crate) fn new(first_counters: &[u64], delete_log_since: Millis) -> Self {
        Data {
            tables: first_counters.iter().map(|&c| Table::new(c)).collect(),
            hidden: HashSet::new(),
            rules: Vec::new(),
            delete_log_since,
        }
    }

    /// Finds a record of any object by a 15- or 18-char id.
    pub(crate) fn find(&self, id: &str) -> Option<(usize, &Record)> {
        let id18 = ids::normalize(id)?;
        let obj = SCHEMA.object_of_id(&id18)?;
        let table = &self.tables[obj];
        table.index_of(&id18).map(|i| (obj, &table.records[i]))
    }

    pub(crate) fn find_in(&self, obj: usize, id: &str) -> Option<&Record> {
        self.find(id).and_then(|(o, r)| (o == obj).then_some(r))
    }

    fn locate(&self, obj: usize, id: &str) -> Option<usize> {
        let id18 = ids::normalize(id)?;
        self.tables[obj].index_of(&id18)
    }

    pub(crate) fn is_hidden(&self, obj: usize, field: usize) -> bool {
        self.hidden.contains(&(obj, field))
    }

    /// A copy of a record and its position, to undo a write (allOrNone batches).
    pub(crate) fn snapshot(&self, obj: usize, id: &str) -> Option<(usize, Record)> {
        let idx = self.locate(obj, id)?;
        Some((idx, self.tables[obj].records[idx].clone()))
    }

    /// Puts back a record taken with [`Data::snapshot`].
    pub(crate) fn restore(&mut self, obj: usize, idx: usize, record: Record) {
        if let Some(slot) = self.tables[obj].records.get_mut(idx) {
            *slot = record;
        }
    }

    /// Removes the newest record of an object (undoes an insert).
    pub(crate) fn pop(&mut self, obj: usize) {
        self.tables[obj].records.pop();
    }

    /// Creates a record; returns its 18-char id.
    pub(crate) fn insert(
        &mut self,
        obj_idx: usize,
        input: &Map<String, Value>,
        ctx: &WriteCtx,
    ) -> Result<String, Vec<SaveError>> {
        let obj = SCHEMA.obj(obj_idx);
        let mut vals: Vec<Val> = vec![Val::Null; obj.fields.len()];
        let assigned = self.apply_input(obj_idx, input, ctx, true, &mut vals)?;
        for (i, f) in obj.fields.iter().enumerate() {
            if assigned.contains(&i) {
                continue;
            }
            if let Some(d) = f.default_value {
                vals[i] = Val::str(d);
            } else if f.kind == Kind::Boolean {
                vals[i] = Val::Bool(false);
            }
        }
        set_if_null(&mut vals, obj, "OwnerId", Val::str(&ctx.user_id));
        if obj.name == "User" {
            set_if_null(&mut vals, obj, "UserType", Val::str("Standard"));
        }
        let missing: Vec<String> = obj
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| f.required_on_create() && vals[*i].is_null())
            .map(|(_, f)| f.name.to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(vec![required_missing(missing)]);
        }
        self.check_rules(obj_idx, &vals)?;
        derive_fields(obj_idx, &mut vals);
        let table = &mut self.tables[obj_idx];
        let counter = table.next_counter();
        let id = ids::make_id(obj.prefix, counter);
        let stamp = |vals: &mut Vec<Val>, name: &str, v: Val| {
            if let Some(i) = obj.field_index(name)
                && (vals[i].is_null() || !ctx.trusted)
            {
                vals[i] = v;
            }
        };
        stamp(&mut vals, "Id", Val::str(&id));
        stamp(&mut vals, "IsDeleted", Val::Bool(false));
        stamp(&mut vals, "CreatedDate", Val::Time(ctx.now));
        stamp(&mut vals, "CreatedById", Val::str(&ctx.user_id));
        stamp(&mut vals, "LastModifiedDate", Val::Time(ctx.now));
        stamp(&mut vals, "LastModifiedById", Val::str(&ctx.user_id));
        stamp(&mut vals, "SystemModstamp", Val::Time(ctx.now));
        if let Some(i) = obj.field_index("Id") {
            vals[i] = Val::str(&id);
        }
        table.records.push(Record {
            id: id.as_str().into(),
            vals: vals.into_boxed_slice(),
            deleted_at: None,
        });
        Ok(id)
    }

    /// Updates the given fields of a record.
    pub(crate) fn update(
        &mut self,
        obj_idx: usize,
        id: &str,
        input: &Map<String, Value>,
        ctx: &WriteCtx,
    ) -> Result<String, WriteError> {
        let idx = self.locate(obj_idx, id).ok_or(WriteError::NotFound)?;
        let current = &self.tables[obj_idx].records[idx];
        if current.deleted_at.is_some() {
            return Err(WriteError::Deleted);
        }
        let obj = SCHEMA.obj(obj_idx);
        let mut vals = current.vals.to_vec();
        let assigned = self
            .apply_input(obj_idx, input, ctx, false, &mut vals)
            .map_err(WriteError::Invalid)?;
        let blanked: Vec<String> = assigned
            .iter()
            .map(|&i| obj.field(i))
            .filter(|f| !f.nillable && f.kind != Kind::Boolean)
            .filter(|f| obj.field_index(f.name).is_some_and(|i| vals[i].is_null()))
            .map(|f| f.name.to_owned())
            .collect();
        if !blanked.is_empty() {
            return Err(WriteError::Invalid(vec![required_missing(blanked)]));
        }
        self.check_rules(obj_idx, &vals)
            .map_err(WriteError::Invalid)?;
        derive_fields(obj_idx, &mut vals);
        let touched = |name: &str| {
            obj.field_index(name)
                .is_some_and(|i| ctx.trusted && assigned.contains(&i))
        };
        for (name, v) in [
            ("LastModifiedDate", Val::Time(ctx.now)),
            ("LastModifiedById", Val::str(&ctx.user_id)),
            ("SystemModstamp", Val::Time(ctx.now)),
        ] {
            if !touched(name)
                && let Some(i) = obj.field_index(name)
            {
                vals[i] = v;
            }
        }
        let record = &mut self.tables[obj_idx].records[idx];
        record.vals = vals.into_boxed_slice();
        Ok(record.id.to_string())
    }

    /// Moves a record to the recycle bin (it stays visible to `queryAll` and `deleted/`).
    pub(crate) fn delete(
        &mut self,
        obj_idx: usize,
        id: &str,
        ctx: &WriteCtx,
    ) -> Result<String, WriteError> {
        let obj = SCHEMA.obj(obj_idx);
        let idx = self.locate(obj_idx, id).ok_or(WriteError::NotFound)?;
        let record = &mut self.tables[obj_idx].records[idx];
        if record.deleted_at.is_some() {
            return Err(WriteError::Deleted);
        }
        record.deleted_at = Some(ctx.now);
        for (name, v) in [
            ("IsDeleted", Val::Bool(true)),
            ("LastModifiedDate", Val::Time(ctx.now)),
            ("LastModifiedById", Val::str(&ctx.user_id)),
            ("SystemModstamp", Val::Time(ctx.now)),
        ] {
            if let Some(i) = obj.field_index(name) {
                record.vals[i] = v;
            }
        }
        Ok(record.id.to_string())
    }

    /// Converts and checks the fields of a request body; returns the indices it assigned.
    fn apply_input(
        &self,
        obj_idx: usize,
        input: &Map<String, Value>,
        ctx: &WriteCtx,
        creating: bool,
        vals: &mut [Val],
    ) -> Result<Vec<usize>, Vec<SaveError>> {
        let obj = SCHEMA.obj(obj_idx);
        let mut assigned = Vec::new();
        let mut not_writable = Vec::new();
        let mut errors = Vec::new();
        for (key, value) in input {
            if key == "attributes" {
                continue;
            }
            let Some(i) = obj
                .field_index(key)
                .filter(|&i| ctx.trusted || !self.is_hidden(obj_idx, i))
            else {
                return Err(vec![SaveError::new(
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type {}", obj.name),
                    vec![],
                )]);
            };
            let f = obj.field(i);
            let writable = if ctx.trusted {
                f.name != "Id" && !f.calculated
            } else if creating {
                f.createable
            } else {
                f.updateable
            };
            if !writable {
                not_writable.push(f.name.to_owned());
                continue;
            }
            match self.convert(f, value) {
                Ok(v) => {
                    vals[i] = v;
                    assigned.push(i);
                }
                Err(e) => errors.push(e),
            }
        }
        if !not_writable.is_empty() {
            return Err(vec![SaveError::new(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    not_writable.join(", ")
                ),
                not_writable,
            )]);
        }
        if errors.is_empty() {
            Ok(assigned)
        } else {
            Err(errors)
        }
    }

    /// One JSON value to a stored value of the field's type, with Salesforce's checks.
    fn convert(&self, f: &FieldDef, value: &Value) -> Result<Val, SaveError> {
        let field = || vec![f.name.to_owned()];
        let parse_err = |kind: &str| {
            SaveError::new(
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of {kind} from {} value {} or request may be missing a required field",
                    token_name(value),
                    value_text(value)
                ),
                vec![],
            )
        };
        if value.is_null() {
            return Ok(Val::Null);
        }
        match f.kind {
            Kind::Boolean => match value {
                Value::Bool(b) => Ok(Val::Bool(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Val::Bool(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Val::Bool(false)),
                _ => Err(parse_err("boolean")),
            },
            Kind::Int => match value {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|x| x.round() as i64))
                    .map(Val::Int)
                    .ok_or_else(|| parse_err("int")),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Val::Int)
                    .map_err(|_| parse_err("int")),
                _ => Err(parse_err("int")),
            },
            Kind::Currency => match value {
                Value::Number(n) => n.as_f64().map(Val::Num).ok_or_else(|| parse_err("double")),
                Value::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .map(Val::Num)
                    .map_err(|_| parse_err("double")),
                _ => Err(parse_err("double")),
            },
            Kind::Date => value
                .as_str()
                .and_then(|s| {
                    time::parse_date(s).or_else(|| time::parse_datetime(s).map(time::day_of_ms))
                })
                .map(Val::Date)
                .ok_or_else(|| parse_err("date")),
            Kind::DateTime => value
                .as_str()
                .and_then(time::parse_datetime)
                .map(Val::Time)
                .ok_or_else(|| parse_err("datetime")),
            Kind::Id | Kind::Reference => {
                let s = scalar_text(value).ok_or_else(|| parse_err("string"))?;
                if s.is_empty() {
                    return Ok(Val::Null);
                }
                let bad_type = || {
                    SaveError::new(
                        "FIELD_INTEGRITY_EXCEPTION",
                        format!("{}: id value of incorrect type: {s}", f.label),
                        field(),
                    )
                };
                let id18 = ids::normalize(&s).ok_or_else(|| {
                    SaveError::new(
                        "MALFORMED_ID",
                        format!("{}: id value of incorrect type: {s}", f.label),
                        field(),
                    )
                })?;
                let target = SCHEMA.object_of_id(&id18).ok_or_else(bad_type)?;
                if !f.reference_to.contains(&SCHEMA.obj(target).name) {
                    return Err(bad_type());
                }
                match self.find(&id18) {
                    Some((_, r)) if r.deleted_at.is_none() => Ok(Val::str(&id18)),
                    _ => Err(SaveError::new(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        field(),
                    )),
                }
            }
            Kind::Picklist | Kind::Combobox => {
                let s = scalar_text(value).ok_or_else(|| parse_err("string"))?;
                if f.restricted && !s.is_empty() && !f.picklist.contains(&s.as_str()) {
                    return Err(SaveError::new(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!("{}: bad value for restricted picklist field: {s}", f.label),
                        field(),
                    ));
                }
                self.text(f, &s)
            }
            Kind::Email => {
                let s = scalar_text(value).ok_or_else(|| parse_err("string"))?;
                let ok = s.is_empty() || {
                    let mut parts = s.splitn(2, '@');
                    let local = parts.next().unwrap_or("");
                    let domain = parts.next().unwrap_or("");
                    !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
                };
                if !ok {
                    return Err(SaveError::new(
                        "INVALID_EMAIL_ADDRESS",
                        format!("{}: invalid email address: {s}", f.label),
                        field(),
                    ));
                }
                self.text(f, &s)
            }
            _ => {
                let s = scalar_text(value).ok_or_else(|| parse_err("string"))?;
                self.text(f, &s)
            }
        }
    }

    fn text(&self, f: &FieldDef, s: &str) -> Result<Val, SaveError> {
        if f.length > 0 && s.chars().count() > f.length as usize {
            return Err(SaveError::new(
                "STRING_TOO_LONG",
                format!(
                    "{}: data value too large: {s} (max length={})",
                    f.label, f.length
                ),
                vec![f.name.to_owned()],
            ));
        }
        Ok(Val::str(s))
    }

    fn check_rules(&self, obj_idx: usize, vals: &[Val]) -> Result<(), Vec<SaveError>> {
        let obj = SCHEMA.obj(obj_idx);
        let fired: Vec<SaveError> = self
            .rules
            .iter()
            .filter(|r| r.object.eq_ignore_ascii_case(obj.name))
            .filter(|r| {
                let v = obj.field_index(&r.field).map_or(&Val::Null, |i| &vals[i]);
                let text = match v {
                    Val::Null => String::new(),
                    other => match other.to_json() {
                        Value::String(s) => s,
                        j => j.to_string(),
                    },
                };
                match &r.condition {
                    RuleCondition::Blank => text.is_empty(),
                    RuleCondition::Equals(x) => text.to_lowercase() == x.to_lowercase(),
                    RuleCondition::Contains(x) => text.to_lowercase().contains(&x.to_lowercase()),
                }
            })
            .map(|r| {
                SaveError::new(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    r.message.clone(),
                    vec![],
                )
            })
            .collect();
        if fired.is_empty() { Ok(()) } else { Err(fired) }
    }
}

fn set_if_null(vals: &mut [Val], obj: &ObjectDef, name: &str, v: Val) {
    if let Some(i) = obj.field_index(name)
        && vals[i].is_null()
    {
        vals[i] = v;
    }
}

fn required_missing(fields: Vec<String>) -> SaveError {
    SaveError::new(
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", fields.join(", ")),
        fields,
    )
}

/// Fields Salesforce computes: the full name and a Task's closed flag.
fn derive_fields(obj_idx: usize, vals: &mut [Val]) {
    let obj = SCHEMA.obj(obj_idx);
    if let (Some(first), Some(last), Some(name)) = (
        obj.field_index("FirstName"),
        obj.field_index("LastName"),
        obj.field_index("Name"),
    ) {
        let full = [vals[first].as_str(), vals[last].as_str()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        vals[name] = Val::str(&full);
    }
    if obj_idx == TASK
        && let (Some(status), Some(closed)) =
            (obj.field_index("Status"), obj.field_index("IsClosed"))
    {
        vals[closed] = Val::Bool(vals[status].as_str() == Some("Completed"));
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn token_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
