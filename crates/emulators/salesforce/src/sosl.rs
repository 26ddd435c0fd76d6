//! A SOSL subset: `FIND {term} [IN ALL|NAME|EMAIL|PHONE FIELDS] [RETURNING Obj[(fields
//! [WHERE ...] [ORDER BY ...] [LIMIT n])], ...] [LIMIT n]`, over a search index that lags
//! record changes.
//!
//! Phone matching (G, undocumented by Salesforce): the digits of the term and of each phone
//! value (an extension after `x`/`ext` dropped) are compared with leading zeros stripped; a
//! value matches when one digit string ends with the other and the shorter has at least five
//! digits. So `4930123456` finds `030 123456` and `+49 30 123456`, but not
//! `+49 (0)30 123456`, whose digits carry the bracketed zero.

use serde_json::Value;

use crate::errors::query_error_message;
use crate::schema::{Kind, SCHEMA};
use crate::soql::{self, Plan, QueryError, Tok};
use crate::store::{Data, Record, Val};
use crate::time::Millis;

/// Characters that must be escaped inside the braces of a FIND clause. `*`, `?` (wildcards),
/// `"` (phrases) and `-` are accepted unescaped.
const RESERVED: &[char] = &[
    '|', '&', '!', '(', ')', '{', '[', ']', '^', '~', ':', '+', '\'',
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Name,
    Email,
    Phone,
}

/// A compiled search.
pub(crate) struct Search {
    words: Vec<String>,
    any_word: bool,
    scope: Scope,
    returning: Vec<Plan>,
    limit: usize,
}

fn malformed(q: &str, pos: usize, text: &str) -> QueryError {
    QueryError {
        code: "MALFORMED_SEARCH",
        message: query_error_message(q, pos, 0, text),
    }
}

/// Parses `q` and compiles each RETURNING clause as a query on its object.
pub(crate) fn compile(q: &str, data: &Data, now: Millis) -> Result<Search, QueryError> {
    let trimmed = q.trim_start();
    let lead = q.len() - trimmed.len();
    if !trimmed
        .get(..4)
        .is_some_and(|s| s.eq_ignore_ascii_case("FIND"))
    {
        let first = trimmed.split_whitespace().next().unwrap_or("<EOF>");
        return Err(malformed(q, lead, &format!("unexpected token: '{first}'")));
    }
    let after_find = lead + 4;
    let rest = &q[after_find..];
    let open = after_find + (rest.len() - rest.trim_start().len());
    let close_char = match q[open..].chars().next() {
        Some('{') => '}',
        Some('\'') => '\'',
        _ => {
            return Err(QueryError {
                code: "MALFORMED_SEARCH",
                message: "No search term found. The search term must be enclosed in braces."
                    .to_owned(),
            });
        }
    };
    // Read the term: `\` escapes, reserved characters must be escaped.
    let mut term = String::new();
    let mut end = None;
    let mut chars = q[open + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        let pos = open + 1 + off;
        if c == '\\' {
            match chars.next() {
                Some((_, e)) => term.push(e),
                None => break,
            }
        } else if c == close_char {
            end = Some(pos);
            break;
        } else if RESERVED.contains(&c) {
            return Err(malformed(
                q,
                pos,
                &format!(
                    "line 1:{} mismatched character '{c}' expecting '{close_char}'",
                    q[..pos].chars().count()
                ),
            ));
        } else {
            term.push(c);
        }
    }
    let Some(end) = end else {
        return Err(malformed(
            q,
            q.len(),
            &format!(
                "line 1:{} mismatched character '<EOF>' expecting '{close_char}'",
                q.chars().count()
            ),
        ));
    };
    let (words, any_word) = split_words(&term);
    let meaningful: usize = words
        .iter()
        .map(|w| w.trim_matches(['*', '?', '"']).chars().count())
        .sum();
    if meaningful < 2 {
        return Err(QueryError {
            code: "INVALID_SEARCH",
            message: "search term must be longer than one character".to_owned(),
        });
    }

    let tail = &q[end + 1..];
    let toks = soql::lex(tail).map_err(|e| QueryError {
        code: "MALFORMED_SEARCH",
        message: e.message,
    })?;
    let base = end + 1;
    let mut at = 0;
    let kw =
        |t: &soql::Token, k: &str| matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(k));
    let unexpected =
        |t: &soql::Token| malformed(q, base + t.pos, &format!("unexpected token: '{}'", t.text));
    let mut scope = Scope::All;
    if kw(&toks[at], "IN") {
        at += 1;
        let t = &toks[at];
        scope = match &t.tok {
            Tok::Ident(s) => match s.to_ascii_uppercase().as_str() {
                "ALL" => Scope::All,
                "NAME" => Scope::Name,
                "EMAIL" => Scope::Email,
                "PHONE" => Scope::Phone,
                "SIDEBAR" => Scope::All,
                _ => return Err(unexpected(t)),
            },
            _ => return Err(unexpected(t)),
        };
        at += 1;
        if !kw(&toks[at], "FIELDS") {
            return Err(unexpected(&toks[at]));
        }
        at += 1;
    }
    let mut specs: Vec<(String, String)> = Vec::new();
    if kw(&toks[at], "RETURNING") {
        at += 1;
        loop {
            let t = &toks[at];
            let Tok::Ident(obj) = &t.tok else {
                return Err(unexpected(t));
            };
            at += 1;
            let mut inner = String::new();
            if toks[at].tok == Tok::LParen {
                let start = toks[at].pos + 1;
                let mut depth = 0;
                loop {
                    match toks[at].tok {
                        Tok::LParen => depth += 1,
                        Tok::RParen => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Tok::Eof => return Err(unexpected(&toks[at])),
                        _ => {}
                    }
                    at += 1;
                }
                inner = tail[start..toks[at].pos].to_owned();
                at += 1;
            }
            specs.push((obj.clone(), inner));
            if toks[at].tok == Tok::Comma {
                at += 1;
            } else {
                break;
            }
        }
    } else {
        specs = ["Account", "Contact", "Lead"]
            .iter()
            .map(|o| ((*o).to_owned(), String::new()))
            .collect();
    }
    let mut limit = 2000;
    if kw(&toks[at], "LIMIT") {
        at += 1;
        match toks[at].tok {
            Tok::Num(n) if n >= 1.0 => limit = (n as usize).min(2000),
            _ => return Err(unexpected(&toks[at])),
        }
        at += 1;
    }
    if toks[at].tok != Tok::Eof {
        return Err(unexpected(&toks[at]));
    }
    let returning = specs
        .iter()
        .map(|(obj, inner)| {
            let soql = returning_query(obj, inner);
            soql::compile(&soql, data, now)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Search {
        words,
        any_word,
        scope,
        returning,
        limit,
    })
}

/// `Contact(Id, Name WHERE x = 1 LIMIT 5)` as `SELECT Id, Name FROM Contact WHERE x = 1 LIMIT 5`.
fn returning_query(obj: &str, inner: &str) -> String {
    let split = soql::lex(inner).ok().and_then(|toks| {
        toks.iter()
            .find(|t| {
                matches!(&t.tok, Tok::Ident(s) if ["WHERE", "ORDER", "LIMIT", "OFFSET"].iter().any(|k| s.eq_ignore_ascii_case(k)))
            })
            .map(|t| t.pos)
    });
    let (fields, clauses) = match split {
        Some(p) => (&inner[..p], &inner[p..]),
        None => (inner, ""),
    };
    let fields = if fields.trim().is_empty() {
        "Id"
    } else {
        fields.trim()
    };
    format!("SELECT {fields} FROM {obj} {clauses}")
}

fn split_words(term: &str) -> (Vec<String>, bool) {
    let mut words = Vec::new();
    let mut any = false;
    for w in term.split_whitespace() {
        match w.to_ascii_uppercase().as_str() {
            "OR" => any = true,
            "AND" | "NOT" => {}
            _ => words.push(w.trim_matches('"').to_lowercase()),
        }
    }
    (words, any)
}

/// Digits of a phone value up to an extension marker.
fn phone_digits(s: &str) -> String {
    let lower = s.to_lowercase();
    let cut = ["x", "ext", "#", ";"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .unwrap_or(lower.len());
    lower[..cut].chars().filter(char::is_ascii_digit).collect()
}

fn phone_match(value_digits: &str, term_digits: &str) -> bool {
    let v = value_digits.trim_start_matches('0');
    let t = term_digits.trim_start_matches('0');
    let shorter = v.len().min(t.len());
    shorter >= 5 && (v.ends_with(t) || t.ends_with(v))
}

impl Search {
    fn word_hits(&self, text: &str) -> Vec<bool> {
        let text = text.to_lowercase();
        self.words
            .iter()
            .map(|w| {
                let w = w.trim_end_matches(['*', '?']);
                !w.is_empty() && text.contains(w)
            })
            .collect()
    }

    fn record_matches(&self, obj: usize, rec: &Record, data: &Data) -> bool {
        let def = SCHEMA.obj(obj);
        let term_digits: String = self
            .words
            .concat()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let mut hits = vec![false; self.words.len()];
        for (i, f) in def.fields.iter().enumerate() {
            if data.is_hidden(obj, i) {
                continue;
            }
            let Val::Str(s) = &rec.vals[i] else { continue };
            let in_scope = match self.scope {
                Scope::Phone => f.kind == Kind::Phone,
                Scope::Email => f.kind == Kind::Email,
                Scope::Name => matches!(f.name, "Name" | "FirstName" | "LastName" | "Company"),
                Scope::All => f.kind.is_text() && !matches!(f.kind, Kind::Id | Kind::Reference),
            };
            if !in_scope {
                continue;
            }
            if f.kind == Kind::Phone {
                if phone_match(&phone_digits(s), &term_digits) {
                    return true;
                }
                continue;
            }
            for (h, w) in hits.iter_mut().zip(self.word_hits(s)) {
                *h |= w;
            }
        }
        !hits.is_empty()
            && if self.any_word {
                hits.iter().any(|&h| h)
            } else {
                hits.iter().all(|&h| h)
            }
    }

    /// `{"searchRecords": [...]}` as of `now`, blind to records changed within `lag_ms`.
    pub(crate) fn run(&self, data: &Data, now: Millis, lag_ms: Millis, version: &str) -> Value {
        let mut out = Vec::new();
        for plan in &self.returning {
            let def = SCHEMA.obj(plan.obj);
            let mut rows = plan.run_where(data, false, |r| {
                now - r.modstamp(def) >= lag_ms && self.record_matches(plan.obj, r, data)
            });
            rows.truncate(self.limit.saturating_sub(out.len()));
            out.extend(rows.into_iter().map(|i| plan.project(data, i, version)));
        }
        serde_json::json!({ "searchRecords": out })
    }

    /// Every record the search finds regardless of the index lag (for the Open CTI stand-in).
    pub(crate) fn matches(&self, data: &Data) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for plan in &self.returning {
            let rows = plan.run_where(data, false, |r| self.record_matches(plan.obj, r, data));
            out.extend(rows.into_iter().map(|i| (plan.obj, i)));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn phone_digits_drop_extensions() {
        assert_eq!(phone_digits("(415) 555-1212 x12"), "4155551212");
        assert_eq!(phone_digits("+1 415 555 1212 ext. 7"), "14155551212");
        assert_eq!(phone_digits("+49 (0)30 123456-7"), "490301234567");
    }

    #[test]
    fn phone_match_is_a_suffix_match_of_significant_digits() {
        assert!(phone_match("030123456", "4930123456"));
        assert!(phone_match("4930123456", "4930123456"));
        assert!(!phone_match("490301234567", "49301234567"));
        assert!(!phone_match("1234", "301234"));
    }

    #[test]
    fn unescaped_reserved_characters_are_malformed_like_salesforce() {
        let data = Data::new(&[1, 1, 1, 1, 1], 0);
        let err = compile("FIND {John|jane} RETURNING Contact", &data, 0)
            .err()
            .unwrap();
        assert_eq!(err.code, "MALFORMED_SEARCH");
        assert_eq!(
            err.message,
            "\nFIND {John|jane} RETURNING Contact\n         ^\nERROR at Row:1:Column:10\nline 1:10 mismatched character '|' expecting '}'"
        );
        assert!(
            compile(
                "FIND {\\+4930123456} IN PHONE FIELDS RETURNING Contact(Id)",
                &data,
                0
            )
            .is_ok()
        );
    }
}
