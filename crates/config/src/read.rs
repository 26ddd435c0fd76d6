//! Typed access to the value tree that collects every problem instead of stopping at the first.

use crate::error::{ConfigError, Origin};
use crate::tree::{self, Node, Table, Val};

/// Top-level sections.
pub(crate) const ROOT_KEYS: &[&str] = &["server", "log", "starface", "dialing", "instance"];
/// Keys of `[server]`.
pub(crate) const SERVER_KEYS: &[&str] =
    &["listen", "public_url", "data_dir", "tls_cert", "tls_key"];
/// Keys of `[log]`.
pub(crate) const LOG_KEYS: &[&str] = &["level"];
/// Keys of `[starface]`.
pub(crate) const STARFACE_KEYS: &[&str] = &[
    "url",
    "admin_login",
    "admin_password",
    "admin_password_file",
];
/// Keys of `[dialing]`.
pub(crate) const DIALING_KEYS: &[&str] =
    &["country", "outside_line_prefix", "internal_number_max_len"];
/// Keys of each `[[instance]]`.
pub(crate) const INSTANCE_KEYS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "users",
    "groups",
    "import_contacts",
    "sync_interval_secs",
    "log_calls",
    "missed_group_calls",
    "unknown_caller_object",
    "salesforce",
];
/// Keys of each `[instance.salesforce]`.
pub(crate) const SALESFORCE_KEYS: &[&str] = &[
    "login_url",
    "client_id",
    "client_secret",
    "client_secret_file",
    "api_version",
];

/// Keys whose values must never appear in a message.
const SECRET_KEYS: &[&str] = &["admin_password", "client_secret"];

/// Every section with its keys; `[]` stands for an instance's index.
const SCHEMA: &[(&str, &[&str])] = &[
    ("", ROOT_KEYS),
    ("server", SERVER_KEYS),
    ("log", LOG_KEYS),
    ("starface", STARFACE_KEYS),
    ("dialing", DIALING_KEYS),
    ("instance[]", INSTANCE_KEYS),
    ("instance[].salesforce", SALESFORCE_KEYS),
];

/// A value read from the configuration and where it was set.
#[derive(Debug, Clone)]
pub(crate) struct Field<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

/// A table of the configuration, possibly absent, and the keys it may hold.
pub(crate) struct Section<'t> {
    pub(crate) path: String,
    table: Option<&'t Table>,
    pub(crate) origin: Option<&'t Origin>,
    known: &'static [&'static str],
}

/// The shape a key needs, for messages.
#[derive(Clone, Copy)]
enum Expect {
    Str,
    Int,
    Bool,
    StrList,
    Table,
    TableList,
}

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Expect::Str => "a string",
            Expect::Int => "an integer",
            Expect::Bool => "a boolean (true or false)",
            Expect::StrList => "a list of strings",
            Expect::Table => "a table",
            Expect::TableList => "a list of tables",
        }
    }
}

impl<'t> Section<'t> {
    /// The whole document.
    pub(crate) fn root(table: &'t Table) -> Self {
        Section {
            path: String::new(),
            table: Some(table),
            origin: None,
            known: ROOT_KEYS,
        }
    }

    /// Whether the table exists (in the file or through the environment).
    pub(crate) fn is_present(&self) -> bool {
        self.table.is_some()
    }

    /// The full name of a key of this section.
    pub(crate) fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// How a message names this section for "add it to ...".
    pub(crate) fn header(&self) -> String {
        if self.path.contains('[') {
            self.path.clone()
        } else {
            format!("[{}]", self.path)
        }
    }

    pub(crate) fn node(&self, name: &str) -> Option<&'t Node> {
        self.table.and_then(|t| tree::get(t, name))
    }

    /// A fix for a missing key: where to add it and which variable sets it.
    pub(crate) fn add_fix(&self, name: &str, example: &str) -> String {
        format!(
            "add `{name} = {example}` to {}, or set {}",
            self.header(),
            tree::env_var_for(&self.key(name))
        )
    }

    fn wrong_type(&self, name: &str, node: &Node, expect: Expect, errors: &mut Vec<ConfigError>) {
        let fix = match (expect, &node.val) {
            // Never echo what was written for a secret, not even a wrongly typed one.
            (Expect::Str, _) if SECRET_KEYS.contains(&name) => {
                format!("write the secret in double quotes: {name} = \"...\"")
            }
            (Expect::Str, Val::Int(n)) => format!("write it in double quotes: {name} = \"{n}\""),
            (Expect::Str, Val::Bool(b)) => format!("write it in double quotes: {name} = \"{b}\""),
            (Expect::Str, _) => format!("write text in double quotes: {name} = \"...\""),
            (Expect::Int, Val::Str(s)) if s.trim().parse::<i64>().is_ok() => {
                format!("write the number without quotes: {name} = {}", s.trim())
            }
            (Expect::Int, _) => format!("write a whole number without quotes, e.g. {name} = 4"),
            (Expect::Bool, _) => format!("write {name} = true or {name} = false, without quotes"),
            (Expect::StrList, Val::Str(s)) => {
                format!("write a list, even for one entry: {name} = [{s:?}]")
            }
            (Expect::StrList, _) => format!("write a list: {name} = [\"a\", \"b\"]"),
            (Expect::Table, _) => format!("write it as a section: [{}]", self.key(name)),
            (Expect::TableList, _) => {
                format!("write each one under [[{name}]], with double brackets")
            }
        };
        errors.push(ConfigError::WrongType {
            key: self.key(name),
            origin: node.origin.clone(),
            expected: expect.name(),
            found: node.val.type_name(),
            fix,
        });
    }

    /// A string key; `None` if absent or not a string (then an error is recorded).
    pub(crate) fn string(
        &self,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Field<String>> {
        let node = self.node(name)?;
        match &node.val {
            Val::Str(s) | Val::EnvText(s) => Some(Field {
                value: s.clone(),
                origin: node.origin.clone(),
            }),
            _ => {
                self.wrong_type(name, node, Expect::Str, errors);
                None
            }
        }
    }

    /// A string key that must be present.
    pub(crate) fn required_string(
        &self,
        name: &str,
        example: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Field<String>> {
        if self.node(name).is_none() {
            errors.push(ConfigError::Missing {
                key: self.key(name),
                fix: self.add_fix(name, example),
            });
            return None;
        }
        self.string(name, errors)
    }

    /// An integer key.
    pub(crate) fn int(&self, name: &str, errors: &mut Vec<ConfigError>) -> Option<Field<i64>> {
        let node = self.node(name)?;
        let value = match &node.val {
            Val::Int(n) => *n,
            Val::EnvText(s) => match s.trim().parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    errors.push(ConfigError::Invalid {
                        key: self.key(name),
                        origin: node.origin.clone(),
                        problem: format!("{:?} is not a whole number", excerpt(s)),
                        fix: "set a number such as 4".to_owned(),
                    });
                    return None;
                }
            },
            _ => {
                self.wrong_type(name, node, Expect::Int, errors);
                return None;
            }
        };
        Some(Field {
            value,
            origin: node.origin.clone(),
        })
    }

    /// A boolean key.
    pub(crate) fn bool(&self, name: &str, errors: &mut Vec<ConfigError>) -> Option<Field<bool>> {
        let node = self.node(name)?;
        let value = match &node.val {
            Val::Bool(b) => *b,
            Val::EnvText(s) if s.trim().eq_ignore_ascii_case("true") => true,
            Val::EnvText(s) if s.trim().eq_ignore_ascii_case("false") => false,
            Val::EnvText(s) => {
                errors.push(ConfigError::Invalid {
                    key: self.key(name),
                    origin: node.origin.clone(),
                    problem: format!("{:?} is neither true nor false", excerpt(s)),
                    fix: "set true or false".to_owned(),
                });
                return None;
            }
            _ => {
                self.wrong_type(name, node, Expect::Bool, errors);
                return None;
            }
        };
        Some(Field {
            value,
            origin: node.origin.clone(),
        })
    }

    /// A list of strings. From the environment either TOML (`["a", "b"]`) or `a,b`.
    pub(crate) fn strings(
        &self,
        name: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Field<Vec<Field<String>>>> {
        let node = self.node(name)?;
        let parsed;
        let list_node = match &node.val {
            Val::EnvText(s) if s.trim_start().starts_with('[') => {
                match tree::parse_inline_value(s, &node.origin) {
                    Ok(n) => {
                        parsed = n;
                        &parsed
                    }
                    Err(message) => {
                        errors.push(ConfigError::Invalid {
                            key: self.key(name),
                            origin: node.origin.clone(),
                            problem: format!("not a valid TOML list: {message}"),
                            fix: format!(
                                "write [\"a\", \"b\"] or a,b in {}",
                                tree::env_var_for(&self.key(name))
                            ),
                        });
                        return None;
                    }
                }
            }
            Val::EnvText(s) => {
                let items = s
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| Field {
                        value: item.to_owned(),
                        origin: node.origin.clone(),
                    })
                    .collect();
                return Some(Field {
                    value: items,
                    origin: node.origin.clone(),
                });
            }
            _ => node,
        };
        let Val::Array(items) = &list_node.val else {
            self.wrong_type(name, list_node, Expect::StrList, errors);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match &item.val {
                Val::Str(s) => out.push(Field {
                    value: s.clone(),
                    origin: item.origin.clone(),
                }),
                other => {
                    ok = false;
                    errors.push(ConfigError::WrongType {
                        key: format!("{}[{i}]", self.key(name)),
                        origin: item.origin.clone(),
                        expected: Expect::Str.name(),
                        found: other.type_name(),
                        fix: "write every entry in double quotes".to_owned(),
                    });
                }
            }
        }
        ok.then_some(Field {
            value: out,
            origin: node.origin.clone(),
        })
    }

    /// A sub-table; absent (and an error recorded) if the key holds something else.
    pub(crate) fn section(
        &self,
        name: &str,
        known: &'static [&'static str],
        errors: &mut Vec<ConfigError>,
    ) -> Section<'t> {
        let mut section = Section {
            path: self.key(name),
            table: None,
            origin: None,
            known,
        };
        if let Some(node) = self.node(name) {
            match &node.val {
                Val::Table(t) => {
                    section.table = Some(t);
                    section.origin = Some(&node.origin);
                }
                _ => self.wrong_type(name, node, Expect::Table, errors),
            }
        }
        section
    }

    /// A list of tables (`[[instance]]`), each named `name[i]`.
    pub(crate) fn tables(
        &self,
        name: &str,
        known: &'static [&'static str],
        errors: &mut Vec<ConfigError>,
    ) -> Vec<Section<'t>> {
        let Some(node) = self.node(name) else {
            return Vec::new();
        };
        let Val::Array(items) = &node.val else {
            self.wrong_type(name, node, Expect::TableList, errors);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{}[{i}]", self.key(name));
            match &item.val {
                Val::Gap => {}
                Val::Table(t) => out.push(Section {
                    path,
                    table: Some(t),
                    origin: Some(&item.origin),
                    known,
                }),
                other => errors.push(ConfigError::WrongType {
                    key: path,
                    origin: item.origin.clone(),
                    expected: Expect::Table.name(),
                    found: other.type_name(),
                    fix: format!("write each one under [[{name}]], with double brackets"),
                }),
            }
        }
        out
    }

    /// Records an error for every key this section does not know.
    pub(crate) fn check_unknown(&self, errors: &mut Vec<ConfigError>) {
        let Some(table) = self.table else { return };
        for (key, node) in table {
            if !self.known.contains(&key.as_str()) {
                errors.push(ConfigError::UnknownKey {
                    key: self.key(key),
                    origin: node.origin.clone(),
                    suggestion: self.suggest(key),
                });
            }
        }
    }

    /// A known key the admin probably meant: a near miss in this section, or the same name in
    /// another section (`level` under `[server]` belongs to `[log]`).
    fn suggest(&self, key: &str) -> Option<String> {
        let wanted = key.to_ascii_lowercase().replace('-', "_");
        let near = self
            .known
            .iter()
            .map(|k| (strsim::jaro_winkler(&wanted, k), *k))
            .filter(|(score, _)| *score >= 0.85)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((_, k)) = near {
            return Some(self.key(k));
        }
        let index = self
            .path
            .strip_prefix("instance[")
            .and_then(|rest| rest.split(']').next())
            .unwrap_or("0");
        SCHEMA
            .iter()
            .find(|(_, keys)| keys.contains(&wanted.as_str()))
            .map(|(section, _)| {
                let section = section.replace("[]", &format!("[{index}]"));
                if section.is_empty() {
                    wanted.clone()
                } else {
                    format!("{section}.{wanted}")
                }
            })
            .filter(|suggestion| *suggestion != self.key(key))
    }
}

/// A short, printable excerpt of a value for messages (never used for secrets).
pub(crate) fn excerpt(input: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut out: String = input.chars().take(MAX_CHARS).collect();
    if input.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}
