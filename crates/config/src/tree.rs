//! The configuration as a tree of values that remember where they came from.
//!
//! The file and the environment are merged here, before any key is interpreted, so that every
//! later message can point at the line or the variable that set a value.

use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::error::{ConfigError, Origin};

/// Prefix of environment overrides; keys follow separated by `__`.
pub(crate) const ENV_PREFIX: &str = "CTIBRIDGE__";

/// Highest list index an environment variable may use; a typo like `INSTANCE__1000000` must not
/// make us allocate a million empty instances.
const MAX_ENV_INDEX: usize = 999;

/// A value and where it was set.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) val: Val,
    pub(crate) origin: Origin,
}

/// A configuration value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Float,
    Bool(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Table),
    /// A list element that no one defined, left by an environment variable with a later index;
    /// reported once here and skipped by the checks, which would only repeat it.
    Gap,
    /// An environment override: text whose type is decided by the key that reads it, so that
    /// `CTIBRIDGE__DIALING__OUTSIDE_LINE_PREFIX=0` stays the text "0".
    EnvText(String),
}

/// Entries in file order.
pub(crate) type Table = Vec<(String, Node)>;

impl Val {
    /// The TOML type, as a message says it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) | Val::EnvText(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float => "a floating-point number",
            Val::Bool(_) => "a boolean",
            Val::Datetime => "a date-time",
            Val::Array(_) => "a list",
            Val::Table(_) => "a table",
            Val::Gap => "nothing",
        }
    }
}

pub(crate) fn get<'t>(table: &'t Table, key: &str) -> Option<&'t Node> {
    table.iter().find(|(k, _)| k == key).map(|(_, n)| n)
}

fn get_mut<'t>(table: &'t mut Table, key: &str) -> Option<&'t mut Node> {
    table.iter_mut().find(|(k, _)| k == key).map(|(_, n)| n)
}

/// Maps byte offsets to 1-based line and column numbers.
struct Lines<'s> {
    text: &'s str,
    starts: Vec<usize>,
}

impl<'s> Lines<'s> {
    fn new(text: &'s str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let end = offset.min(self.text.len());
        let column = self
            .text
            .get(start..end)
            .map_or(1, |before| before.chars().count() + 1);
        (line, column)
    }
}

/// Parses a configuration file into a tree; syntax errors come with line and column.
pub(crate) fn parse_file(path: &Path, text: &str) -> Result<Table, Vec<ConfigError>> {
    let lines = Lines::new(text);
    let syntax_error = |e: toml::de::Error| {
        let (line, column) = lines.line_col(e.span().map_or(0, |s| s.start));
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    };
    // Recovery after the first syntax error mostly reports its echoes: one precise message
    // serves the admin better than five confused ones.
    let doc = DeTable::parse(text).map_err(|e| vec![syntax_error(e)])?;
    let mut errors = Vec::new();
    let table = convert_table(doc.into_inner(), path, &lines, &mut errors);
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(errors)
    }
}

fn convert_table(
    table: DeTable<'_>,
    path: &Path,
    lines: &Lines<'_>,
    errors: &mut Vec<ConfigError>,
) -> Table {
    let mut entries: Vec<(usize, String, Node)> = table
        .into_iter()
        .map(|(key, value)| {
            let offset = key.span().start;
            let origin = Origin::File {
                path: path.to_owned(),
                line: lines.line(offset),
            };
            let node = convert_value(value.into_inner(), origin, path, lines, errors);
            (offset, key.into_inner().into_owned(), node)
        })
        .collect();
    // The parser sorts keys; file order makes the list of problems read like the file.
    entries.sort_by_key(|(offset, _, _)| *offset);
    entries.into_iter().map(|(_, k, n)| (k, n)).collect()
}

fn convert_value(
    value: DeValue<'_>,
    origin: Origin,
    path: &Path,
    lines: &Lines<'_>,
    errors: &mut Vec<ConfigError>,
) -> Node {
    let val = match value {
        DeValue::String(s) => Val::Str(s.into_owned()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Val::Int(n),
            Err(_) => {
                if let Origin::File { line, .. } = &origin {
                    errors.push(ConfigError::Syntax {
                        path: path.to_owned(),
                        line: *line,
                        column: 1,
                        message: "integer out of range".to_owned(),
                    });
                }
                Val::Int(0)
            }
        },
        DeValue::Float(_) => Val::Float,
        DeValue::Boolean(b) => Val::Bool(b),
        DeValue::Datetime(_) => Val::Datetime,
        DeValue::Array(items) => Val::Array(
            items
                .iter()
                .cloned()
                .map(|item| {
                    let item_origin = match &origin {
                        Origin::File { path, .. } => Origin::File {
                            path: path.clone(),
                            line: lines.line(item.span().start),
                        },
                        env => env.clone(),
                    };
                    convert_value(item.into_inner(), item_origin, path, lines, errors)
                })
                .collect(),
        ),
        DeValue::Table(t) => Val::Table(convert_table(t, path, lines, errors)),
    };
    Node { val, origin }
}

/// Parses a TOML value given as text (an environment override of a list).
pub(crate) fn parse_inline_value(text: &str, origin: &Origin) -> Result<Node, String> {
    let value = DeValue::parse(text).map_err(|e| e.message().trim().to_owned())?;
    let lines = Lines::new(text);
    let mut errors = Vec::new();
    let node = convert_value(
        value.into_inner(),
        origin.clone(),
        Path::new(""),
        &lines,
        &mut errors,
    );
    Ok(node)
}

/// Overlays `CTIBRIDGE__SECTION__KEY` variables onto the tree; they win over the file.
///
/// Lists of tables take an index: `CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_SECRET`. An index
/// one past the end adds an element, so a whole instance can come from the environment.
pub(crate) fn apply_env(
    root: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
    errors: &mut Vec<ConfigError>,
) {
    let mut vars: Vec<(Vec<String>, String, String)> = env
        .into_iter()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix(ENV_PREFIX)?;
            let segments = rest.split("__").map(str::to_ascii_lowercase).collect();
            Some((segments, name, value))
        })
        .collect();
    // Numeric order of indexes, so that INSTANCE__2 is added after INSTANCE__1 and before
    // INSTANCE__10, whatever order the environment lists them in.
    vars.sort_by(|a, b| {
        let key = |segments: &[String]| {
            segments
                .iter()
                .map(|s| (s.parse::<usize>().ok(), s.clone()))
                .collect::<Vec<_>>()
        };
        key(&a.0).cmp(&key(&b.0))
    });

    let mut gaps = Vec::new();
    for (segments, var, value) in vars {
        if segments.iter().any(String::is_empty) {
            errors.push(ConfigError::BadEnvVar {
                var,
                problem: "has an empty key; separate keys with exactly two underscores, e.g. \
                          CTIBRIDGE__SERVER__LISTEN"
                    .to_owned(),
            });
            continue;
        }
        let origin = Origin::Env { var: var.clone() };
        if let Err(problem) = set_path(root, &segments, "", value, &origin, &mut gaps) {
            errors.push(ConfigError::BadEnvVar { var, problem });
        }
    }

    for (array_key, index, var) in gaps {
        let Some(node) = lookup_array(root, &array_key).and_then(|items| items.get_mut(index))
        else {
            continue;
        };
        if matches!(&node.val, Val::Table(t) if t.is_empty()) {
            node.val = Val::Gap;
            errors.push(ConfigError::BadEnvVar {
                var,
                problem: format!(
                    "{array_key}[{index}] is defined neither in the file nor in the environment, \
                     but a later one is; number the elements from 0 without gaps"
                ),
            });
        }
    }
}

fn lookup_array<'t>(root: &'t mut Table, dotted: &str) -> Option<&'t mut Vec<Node>> {
    let mut segments = dotted.split('.');
    let first = segments.next()?;
    let mut node = get_mut(root, first)?;
    for segment in segments {
        node = match &mut node.val {
            Val::Table(t) => get_mut(t, segment)?,
            _ => return None,
        };
    }
    match &mut node.val {
        Val::Array(items) => Some(items),
        _ => None,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn set_path(
    table: &mut Table,
    segments: &[String],
    prefix: &str,
    value: String,
    origin: &Origin,
    gaps: &mut Vec<(String, usize, String)>,
) -> Result<(), String> {
    let Some((key, rest)) = segments.split_first() else {
        return Err("names no key; write CTIBRIDGE__SECTION__KEY".to_owned());
    };
    let dotted = join(prefix, key);
    if rest.is_empty() {
        let node = Node {
            val: Val::EnvText(value),
            origin: origin.clone(),
        };
        match get_mut(table, key) {
            Some(existing) => *existing = node,
            None => table.push((key.clone(), node)),
        }
        return Ok(());
    }
    if get(table, key).is_none() {
        let starts_list = rest.first().is_some_and(|s| s.parse::<usize>().is_ok());
        let val = if starts_list {
            Val::Array(Vec::new())
        } else {
            Val::Table(Vec::new())
        };
        table.push((
            key.clone(),
            Node {
                val,
                origin: origin.clone(),
            },
        ));
    }
    let Some(node) = get_mut(table, key) else {
        return Err(format!("cannot set {dotted}"));
    };
    match &mut node.val {
        Val::Table(inner) => set_path(inner, rest, &dotted, value, origin, gaps),
        Val::Array(items) => {
            let (index_text, rest) = rest.split_first().unwrap_or((&dotted, &[]));
            let Ok(index) = index_text.parse::<usize>() else {
                return Err(format!(
                    "{dotted} is a list; put the element's index after it, e.g. \
                     CTIBRIDGE__{}__0__{}",
                    key.to_ascii_uppercase(),
                    index_text.to_ascii_uppercase()
                ));
            };
            if index > MAX_ENV_INDEX {
                return Err(format!(
                    "index {index} is beyond {MAX_ENV_INDEX}; number the elements of {dotted} \
                     from 0 without gaps"
                ));
            }
            if rest.is_empty() {
                return Err(format!(
                    "sets {dotted}[{index}] as a whole; set its keys one by one, e.g. \
                     CTIBRIDGE__{}__{index}__NAME",
                    key.to_ascii_uppercase()
                ));
            }
            if items.iter().any(|n| !matches!(n.val, Val::Table(_))) {
                return Err(format!(
                    "{dotted} is a list of values, not of tables; set it as a whole, e.g. \
                     CTIBRIDGE__{}=a,b",
                    dotted.replace('.', "__").to_ascii_uppercase()
                ));
            }
            while items.len() <= index {
                if items.len() < index {
                    gaps.push((dotted.clone(), items.len(), var_name(origin)));
                }
                items.push(Node {
                    val: Val::Table(Vec::new()),
                    origin: origin.clone(),
                });
            }
            match items.get_mut(index).map(|n| &mut n.val) {
                Some(Val::Table(inner)) => set_path(
                    inner,
                    rest,
                    &format!("{dotted}[{index}]"),
                    value,
                    origin,
                    gaps,
                ),
                _ => Err(format!("cannot set {dotted}[{index}]")),
            }
        }
        other => Err(format!(
            "{dotted} is {}, not a section; it has no key {}",
            other.type_name(),
            rest.join(".")
        )),
    }
}

fn var_name(origin: &Origin) -> String {
    match origin {
        Origin::Env { var } => var.clone(),
        Origin::File { .. } | Origin::Default => String::new(),
    }
}

/// The environment variable that overrides a key such as `instance[0].salesforce.client_id`.
pub(crate) fn env_var_for(key: &str) -> String {
    let mut out = String::from(ENV_PREFIX);
    let path = key.replace('[', ".").replace(']', "");
    out.push_str(
        &path
            .split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_uppercase)
            .collect::<Vec<_>>()
            .join("__"),
    );
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn env_var_for_spells_indexes_as_segments() {
        assert_eq!(
            env_var_for("instance[1].salesforce.client_secret"),
            "CTIBRIDGE__INSTANCE__1__SALESFORCE__CLIENT_SECRET"
        );
        assert_eq!(env_var_for("server.listen"), "CTIBRIDGE__SERVER__LISTEN");
    }

    #[test]
    fn lines_count_from_one_and_columns_in_characters() {
        let lines = Lines::new("ab\nüx\n");
        assert_eq!(lines.line_col(0), (1, 1));
        assert_eq!(lines.line_col(3), (2, 1));
        // "ü" is two bytes, one character.
        assert_eq!(lines.line_col(5), (2, 2));
    }
}
