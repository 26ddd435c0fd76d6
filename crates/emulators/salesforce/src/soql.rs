//! A SOQL subset: what connectors send. `SELECT fields | COUNT() | COUNT(f) FROM Obj
//! [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]` with
//! relationship paths (`Owner.Name`), `= != <> < <= > >= LIKE IN NOT IN`, `AND OR NOT`,
//! parentheses, string/number/boolean/null literals, date and dateTime literals and the date
//! keywords TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::errors::{ApiError, query_error_message};
use crate::ids;
use crate::schema::{Kind, SCHEMA};
use crate::store::{Data, Record, Val, attributes};
use crate::time::{self, Millis};

const NOBJ: usize = 5;

/// A SOQL error with Salesforce's code and message.
#[derive(Debug, Clone)]
pub(crate) struct QueryError {
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    pub(crate) fn into_api(self) -> ApiError {
        ApiError::bad_request(self.code, self.message)
    }
}

fn malformed(q: &str, pos: usize, text: &str) -> QueryError {
    QueryError {
        code: "MALFORMED_QUERY",
        message: query_error_message(q, pos, 1, text),
    }
}

fn invalid_field(q: &str, pos: usize, text: String) -> QueryError {
    QueryError {
        code: "INVALID_FIELD",
        message: query_error_message(q, pos, 1, &text),
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Date(i32),
    DateTime(Millis),
    Comma,
    LParen,
    RParen,
    Colon,
    Op(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub text: String,
}

pub(crate) fn lex(q: &str) -> Result<Vec<Token>, QueryError> {
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let single = |tok: Tok| Token {
            tok,
            pos: start,
            text: (c as char).to_string(),
        };
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b',' => {
                out.push(single(Tok::Comma));
                i += 1;
            }
            b'(' => {
                out.push(single(Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push(single(Tok::RParen));
                i += 1;
            }
            b':' => {
                out.push(single(Tok::Colon));
                i += 1;
            }
            b'=' | b'<' | b'>' | b'!' => {
                let two = q.get(i..i + 2).unwrap_or("");
                let op = match two {
                    "<=" => Some("<="),
                    ">=" => Some(">="),
                    "!=" => Some("!="),
                    "<>" => Some("!="),
                    _ => None,
                };
                let (op, len) = match (op, c) {
                    (Some(op), _) => (op, 2),
                    (None, b'=') => ("=", 1),
                    (None, b'<') => ("<", 1),
                    (None, b'>') => (">", 1),
                    _ => return Err(malformed(q, i, "unexpected token: '!'")),
                };
                out.push(Token {
                    tok: Tok::Op(op),
                    pos: start,
                    text: q[i..i + len].to_owned(),
                });
                i += len;
            }
            b'\'' => {
                i += 1;
                let mut s = String::new();
                let mut closed = false;
                let mut chars = q[i..].char_indices();
                while let Some((off, ch)) = chars.next() {
                    match ch {
                        '\\' => {
                            let Some((_, esc)) = chars.next() else { break };
                            // LIKE keeps `\%` and `\_` escaped; the matcher reads them.
                            if esc == '%' || esc == '_' {
                                s.push('\\');
                            }
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                'b' => '\u{8}',
                                'f' => '\u{c}',
                                other => other,
                            });
                        }
                        '\'' => {
                            i += off + 1;
                            closed = true;
                            break;
                        }
                        other => s.push(other),
                    }
                }
                if !closed {
                    return Err(malformed(
                        q,
                        start,
                        "line 1:0 mismatched character '<EOF>' expecting '''",
                    ));
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    pos: start,
                    text: q[start..i].to_owned(),
                });
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric()
                        || matches!(bytes[j], b':' | b'.' | b'-' | b'+'))
                {
                    j += 1;
                }
                let text = &q[i..j];
                let tok = if let Some(t) = literal_datetime(text) {
                    Tok::DateTime(t)
                } else if let Some(d) = literal_date(text) {
                    Tok::Date(d)
                } else if let Ok(n) = text.parse::<f64>() {
                    Tok::Num(n)
                } else {
                    return Err(malformed(q, i, &format!("unexpected token: '{text}'")));
                };
                out.push(Token {
                    tok,
                    pos: start,
                    text: text.to_owned(),
                });
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'_' | b'.'))
                {
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(q[i..j].to_owned()),
                    pos: start,
                    text: q[i..j].to_owned(),
                });
                i = j;
            }
            _ => {
                let ch = q[i..].chars().next().unwrap_or('?');
                return Err(malformed(q, i, &format!("unexpected token: '{ch}'")));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: q.len(),
        text: "<EOF>".to_owned(),
    });
    Ok(out)
}

/// SOQL dateTime literals: `YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm)`.
fn literal_datetime(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    if b.len() < 20 || b.get(10) != Some(&b'T') {
        return None;
    }
    let last = *b.last()?;
    let has_zone = last == b'Z' || text[19..].contains(['+', '-']);
    if !has_zone {
        return None;
    }
    time::parse_datetime(text)
}

fn literal_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| time::parse_date(text))
        .flatten()
}

// ---------------------------------------------------------------- parser

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Date(i32),
    DateTime(Millis),
    /// A date keyword: [start, end) in ms.
    Range(Millis, Millis),
}

#[derive(Debug, Clone)]
struct Named {
    text: String,
    pos: usize,
}

#[derive(Debug, Clone)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Cmp {
        path: Named,
        op: Op,
        value: (Lit, usize, String),
    },
    In {
        path: Named,
        negated: bool,
        values: Vec<(Lit, usize, String)>,
    },
    Like {
        path: Named,
        pattern: String,
    },
}

#[derive(Debug, Clone)]
enum Selection {
    Fields(Vec<Named>),
    Count,
    CountField(Named),
}

#[derive(Debug, Clone)]
struct Ast {
    selection: Selection,
    object: Named,
    filter: Option<Cond>,
    order: Vec<(Named, bool, Option<bool>)>,
    limit: Option<usize>,
    offset: Option<usize>,
}

struct Parser<'q> {
    q: &'q str,
    toks: Vec<Token>,
    at: usize,
    now: Millis,
}

impl<'q> Parser<'q> {
    fn peek(&self) -> &Token {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }
    fn unexpected(&self, t: &Token) -> QueryError {
        malformed(self.q, t.pos, &format!("unexpected token: '{}'", t.text))
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn kw(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.is_kw(kw) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(&self.peek().clone()))
        }
    }
    fn expect(&mut self, tok: &Tok) -> Result<Token, QueryError> {
        let t = self.next();
        if &t.tok == tok {
            Ok(t)
        } else {
            Err(self.unexpected(&t))
        }
    }
    fn ident(&mut self) -> Result<Named, QueryError> {
        let t = self.next();
        match t.tok {
            Tok::Ident(s) if !is_reserved(&s) => Ok(Named {
                text: s,
                pos: t.pos,
            }),
            _ => Err(self.unexpected(&t)),
        }
    }
    fn count(&mut self) -> Result<usize, QueryError> {
        let t = self.next();
        match t.tok {
            Tok::Num(n) if n >= 0.0 && n.fract() == 0.0 => Ok(n as usize),
            _ => Err(self.unexpected(&t)),
        }
    }

    fn query(&mut self) -> Result<Ast, QueryError> {
        self.kw("SELECT")?;
        let selection = if self.is_kw("COUNT") {
            self.next();
            self.expect(&Tok::LParen)?;
            if matches!(self.peek().tok, Tok::RParen) {
                self.next();
                Selection::Count
            } else {
                let f = self.ident()?;
                self.expect(&Tok::RParen)?;
                Selection::CountField(f)
            }
        } else {
            let mut fields = vec![self.ident()?];
            while matches!(self.peek().tok, Tok::Comma) {
                self.next();
                fields.push(self.ident()?);
            }
            Selection::Fields(fields)
        };
        self.kw("FROM")?;
        let object = self.ident()?;
        let filter = if self.is_kw("WHERE") {
            self.next();
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.is_kw("ORDER") {
            self.next();
            self.kw("BY")?;
            loop {
                let f = self.ident()?;
                let mut desc = false;
                if self.is_kw("ASC") {
                    self.next();
                } else if self.is_kw("DESC") {
                    self.next();
                    desc = true;
                }
                let mut nulls_last = None;
                if self.is_kw("NULLS") {
                    self.next();
                    if self.is_kw("FIRST") {
                        self.next();
                        nulls_last = Some(false);
                    } else {
                        self.kw("LAST")?;
                        nulls_last = Some(true);
                    }
                }
                order.push((f, desc, nulls_last));
                if matches!(self.peek().tok, Tok::Comma) {
                    self.next();
                } else {
                    break;
                }
            }
        }
        let mut limit = None;
        if self.is_kw("LIMIT") {
            self.next();
            limit = Some(self.count()?);
        }
        let mut offset = None;
        if self.is_kw("OFFSET") {
            self.next();
            offset = Some(self.count()?);
        }
        let end = self.next();
        if end.tok != Tok::Eof {
            return Err(self.unexpected(&end));
        }
        Ok(Ast {
            selection,
            object,
            filter,
            order,
            limit,
            offset,
        })
    }

    /// A list of terms joined by one operator; mixing AND and OR needs parentheses.
    fn condition(&mut self) -> Result<Cond, QueryError> {
        let first = self.term()?;
        let mut terms = vec![first];
        let mut joiner: Option<&str> = None;
        loop {
            let j = if self.is_kw("AND") {
                "AND"
            } else if self.is_kw("OR") {
                "OR"
            } else {
                break;
            };
            if joiner.is_some_and(|k| k != j) {
                return Err(self.unexpected(&self.peek().clone()));
            }
            joiner = Some(j);
            self.next();
            terms.push(self.term()?);
        }
        Ok(match (joiner, terms.len()) {
            (_, 1) => terms.pop().unwrap_or(Cond::And(Vec::new())),
            (Some("OR"), _) => Cond::Or(terms),
            _ => Cond::And(terms),
        })
    }

    fn term(&mut self) -> Result<Cond, QueryError> {
        if self.is_kw("NOT") {
            self.next();
            return Ok(Cond::Not(Box::new(self.term()?)));
        }
        if matches!(self.peek().tok, Tok::LParen) {
            self.next();
            let c = self.condition()?;
            self.expect(&Tok::RParen)?;
            return Ok(c);
        }
        let path = self.ident()?;
        if self.is_kw("LIKE") {
            self.next();
            let t = self.next();
            return match t.tok {
                Tok::Str(pattern) => Ok(Cond::Like { path, pattern }),
                _ => Err(self.unexpected(&t)),
            };
        }
        let mut negated = false;
        if self.is_kw("NOT") {
            self.next();
            negated = true;
            if !self.is_kw("IN") {
                return Err(self.unexpected(&self.peek().clone()));
            }
        }
        if self.is_kw("IN") {
            self.next();
            self.expect(&Tok::LParen)?;
            let mut values = vec![self.value()?];
            while matches!(self.peek().tok, Tok::Comma) {
                self.next();
                values.push(self.value()?);
            }
            self.expect(&Tok::RParen)?;
            return Ok(Cond::In {
                path,
                negated,
                values,
            });
        }
        let t = self.next();
        let op = match t.tok {
            Tok::Op("=") => Op::Eq,
            Tok::Op("!=") => Op::Ne,
            Tok::Op("<") => Op::Lt,
            Tok::Op("<=") => Op::Le,
            Tok::Op(">") => Op::Gt,
            Tok::Op(">=") => Op::Ge,
            _ => return Err(self.unexpected(&t)),
        };
        let value = self.value()?;
        Ok(Cond::Cmp { path, op, value })
    }

    fn value(&mut self) -> Result<(Lit, usize, String), QueryError> {
        let t = self.next();
        let day = 86_400_000;
        let today = self.now.div_euclid(day) * day;
        let lit = match &t.tok {
            Tok::Str(s) => Lit::Str(s.clone()),
            Tok::Num(n) => Lit::Num(*n),
            Tok::Date(d) => Lit::Date(*d),
            Tok::DateTime(ms) => Lit::DateTime(*ms),
            Tok::Ident(s) => match s.to_ascii_uppercase().as_str() {
                "TRUE" => Lit::Bool(true),
                "FALSE" => Lit::Bool(false),
                "NULL" => Lit::Null,
                "TODAY" => Lit::Range(today, today + day),
                "YESTERDAY" => Lit::Range(today - day, today),
                "TOMORROW" => Lit::Range(today + day, today + 2 * day),
                "LAST_N_DAYS" | "NEXT_N_DAYS" => {
                    let upper = s.to_ascii_uppercase();
                    self.expect(&Tok::Colon)?;
                    let n = i64::try_from(self.count()?).unwrap_or(0);
                    if upper == "LAST_N_DAYS" {
                        Lit::Range(today - (n - 1) * day, today + day)
                    } else {
                        Lit::Range(today + day, today + (n + 1) * day)
                    }
                }
                _ => return Err(self.unexpected(&t)),
            },
            _ => return Err(self.unexpected(&t)),
        };
        Ok((lit, t.pos, t.text))
    }
}

fn is_reserved(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "LIMIT", "OFFSET", "LIKE",
        "IN", "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

// ---------------------------------------------------------------- compile

/// A resolved field path: relationship hops and the leaf field, per possible object.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    hops: Vec<[Option<usize>; NOBJ]>,
    rel_names: Vec<&'static str>,
    leaf: [Option<usize>; NOBJ],
    pub leaf_name: &'static str,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cmp {
        path: Path,
        op: Op,
        lit: Lit,
    },
    In {
        path: Path,
        negated: bool,
        lits: Vec<Lit>,
    },
    Like {
        path: Path,
        pattern: Vec<char>,
    },
}

/// What a compiled query returns.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Records(Vec<Path>),
    Count,
    CountField,
}

/// A compiled query.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub obj: usize,
    pub output: Output,
    filter: Option<Filter>,
    order: Vec<(Path, bool, bool)>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Parses and checks `q` against the schema, hiding fields field-level security hides.
pub(crate) fn compile(q: &str, data: &Data, now: Millis) -> Result<Plan, QueryError> {
    let toks = lex(q)?;
    let mut p = Parser {
        q,
        toks,
        at: 0,
        now,
    };
    let ast = p.query()?;
    let obj = SCHEMA.object_index(&ast.object.text).ok_or_else(|| QueryError {
        code: "INVALID_TYPE",
        message: query_error_message(
            q,
            ast.object.pos,
            1,
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                ast.object.text
            ),
        ),
    })?;
    let c = Compiler { q, data, obj };
    let output = match &ast.selection {
        Selection::Fields(fields) => Output::Records(
            fields
                .iter()
                .map(|f| c.path(f))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Selection::Count => Output::Count,
        Selection::CountField(f) => {
            c.path(f)?;
            Output::CountField
        }
    };
    let filter = ast.filter.as_ref().map(|f| c.filter(f)).transpose()?;
    let order = ast
        .order
        .iter()
        .map(|(f, desc, nulls_last)| Ok((c.path(f)?, *desc, nulls_last.unwrap_or(*desc))))
        .collect::<Result<Vec<_>, QueryError>>()?;
    if ast.offset.is_some_and(|off| off > 2000) {
        return Err(QueryError {
            code: "NUMBER_OUTSIDE_VALID_RANGE",
            message: "Maximum SOQL offset allowed is 2000".to_owned(),
        });
    }
    Ok(Plan {
        obj,
        output,
        filter,
        order,
        limit: ast.limit,
        offset: ast.offset,
    })
}

struct Compiler<'a> {
    q: &'a str,
    data: &'a Data,
    obj: usize,
}

impl Compiler<'_> {
    fn path(&self, named: &Named) -> Result<Path, QueryError> {
        let parts: Vec<&str> = named.text.split('.').collect();
        // `Contact.Name` in a query on Contact names the object itself.
        let parts = match parts.as_slice() {
            [first, rest @ ..]
                if !rest.is_empty() && first.eq_ignore_ascii_case(SCHEMA.obj(self.obj).name) =>
            {
                rest.to_vec()
            }
            _ => parts,
        };
        let mut current: Vec<usize> = vec![self.obj];
        let mut hops = Vec::new();
        let mut rel_names = Vec::new();
        let (leaf_part, rels) = parts
            .split_last()
            .ok_or_else(|| malformed(self.q, named.pos, "unexpected token: '.'"))?;
        for rel in rels {
            let mut hop = [None; NOBJ];
            let mut next = Vec::new();
            let mut name = None;
            for &o in &current {
                let def = SCHEMA.obj(o);
                if let Some(i) = def
                    .relationship_index(rel)
                    .filter(|&i| !self.data.is_hidden(o, i))
                {
                    hop[o] = Some(i);
                    let f = def.field(i);
                    name = f.relationship;
                    for t in f.reference_to {
                        if let Some(ti) = SCHEMA.object_index(t)
                            && !next.contains(&ti)
                        {
                            next.push(ti);
                        }
                    }
                }
            }
            let Some(name) = name else {
                return Err(invalid_field(
                    self.q,
                    named.pos,
                    format!(
                        "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                    ),
                ));
            };
            hops.push(hop);
            rel_names.push(name);
            current = next;
        }
        let mut leaf = [None; NOBJ];
        let mut leaf_name = None;
        let mut kind = Kind::String;
        for &o in &current {
            let def = SCHEMA.obj(o);
            if let Some(i) = def
                .field_index(leaf_part)
                .filter(|&i| !self.data.is_hidden(o, i))
            {
                leaf[o] = Some(i);
                leaf_name = Some(def.field(i).name);
                kind = def.field(i).kind;
            }
        }
        let Some(leaf_name) = leaf_name else {
            let entity = current.first().map_or("", |&o| SCHEMA.obj(o).name);
            let entity = if current.len() > 1 { "Name" } else { entity };
            let pos = named.pos + named.text.len() - leaf_part.len();
            let pos = if rels.is_empty() { named.pos } else { pos };
            return Err(invalid_field(
                self.q,
                pos,
                format!(
                    "No such column '{leaf_part}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            ));
        };
        Ok(Path {
            hops,
            rel_names,
            leaf,
            leaf_name,
            kind,
        })
    }

    fn filter(&self, c: &Cond) -> Result<Filter, QueryError> {
        Ok(match c {
            Cond::And(v) => {
                Filter::And(v.iter().map(|c| self.filter(c)).collect::<Result<_, _>>()?)
            }
            Cond::Or(v) => Filter::Or(v.iter().map(|c| self.filter(c)).collect::<Result<_, _>>()?),
            Cond::Not(c) => Filter::Not(Box::new(self.filter(c)?)),
            Cond::Cmp { path, op, value } => {
                let p = self.path(path)?;
                let lit = self.literal(&p, path, value)?;
                Filter::Cmp {
                    path: p,
                    op: *op,
                    lit,
                }
            }
            Cond::In {
                path,
                negated,
                values,
            } => {
                let p = self.path(path)?;
                let lits = values
                    .iter()
                    .map(|v| self.literal(&p, path, v))
                    .collect::<Result<_, _>>()?;
                Filter::In {
                    path: p,
                    negated: *negated,
                    lits,
                }
            }
            Cond::Like { path, pattern } => {
                let p = self.path(path)?;
                if !p.kind.is_text() {
                    return Err(invalid_field(
                        self.q,
                        path.pos,
                        format!(
                            "invalid operator on {} field: {}",
                            p.kind.describe_name(),
                            p.leaf_name
                        ),
                    ));
                }
                Filter::Like {
                    path: p,
                    pattern: pattern.to_lowercase().chars().collect(),
                }
            }
        })
    }

    /// Checks a literal against the field's type the way Salesforce words it.
    fn literal(
        &self,
        p: &Path,
        path: &Named,
        (lit, pos, _text): &(Lit, usize, String),
    ) -> Result<Lit, QueryError> {
        let wrong = |ty: &str, quoted: bool| {
            invalid_field(
                self.q,
                *pos,
                format!(
                    "value of filter criterion for field '{}' must be of type {ty} and should {}be enclosed in quotes",
                    path.text,
                    if quoted { "" } else { "not " }
                ),
            )
        };
        match (p.kind, lit) {
            (_, Lit::Null) => Ok(Lit::Null),
            (Kind::DateTime, Lit::DateTime(_) | Lit::Range(..)) => Ok(lit.clone()),
            (Kind::DateTime, _) => Err(wrong("dateTime", false)),
            (Kind::Date, Lit::Date(_)) => Ok(lit.clone()),
            (Kind::Date, Lit::Range(a, b)) => Ok(Lit::Range(
                i64::from(time::day_of_ms(*a)),
                i64::from(time::day_of_ms(*b)),
            )),
            (Kind::Date, _) => Err(wrong("date", false)),
            (Kind::Boolean, Lit::Bool(_)) => Ok(lit.clone()),
            (Kind::Boolean, _) => Err(wrong("boolean", false)),
            (Kind::Int | Kind::Currency, Lit::Num(_)) => Ok(lit.clone()),
            (Kind::Int, _) => Err(wrong("integer", false)),
            (Kind::Currency, _) => Err(wrong("double", false)),
            (Kind::Id | Kind::Reference, Lit::Str(s)) => {
                if s.is_empty() {
                    return Ok(Lit::Null);
                }
                ids::normalize(s).map(Lit::Str).ok_or_else(|| QueryError {
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: query_error_message(
                        self.q,
                        *pos,
                        1,
                        &format!("invalid ID field: {s}"),
                    ),
                })
            }
            (_, Lit::Str(_)) => Ok(lit.clone()),
            (_, _) => Err(wrong("string", true)),
        }
    }
}

// ---------------------------------------------------------------- execution

/// Follows the path's relationships from a record; `None` when a link is empty.
fn resolve<'d>(
    data: &'d Data,
    obj: usize,
    rec: &'d Record,
    hops: &[[Option<usize>; NOBJ]],
) -> Option<(usize, &'d Record)> {
    let mut cur = (obj, rec);
    for hop in hops {
        let idx = hop[cur.0]?;
        let id = cur.1.vals[idx].as_str()?;
        let (o, r) = data.find(id)?;
        if r.deleted_at.is_some() {
            return None;
        }
        cur = (o, r);
    }
    Some(cur)
}

fn value_of<'d>(data: &'d Data, obj: usize, rec: &'d Record, path: &Path) -> &'d Val {
    resolve(data, obj, rec, &path.hops)
        .and_then(|(o, r)| path.leaf[o].map(|i| &r.vals[i]))
        .unwrap_or(&Val::Null)
}

fn cmp_lit(v: &Val, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Val::Null, _) | (_, Lit::Null) => None,
        (Val::Str(a), Lit::Str(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Val::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (Val::Date(a), Lit::Date(b)) => Some(a.cmp(b)),
        (Val::Time(a), Lit::DateTime(b)) => Some(a.cmp(b)),
        (v, Lit::Num(b)) => v.as_f64().and_then(|a| a.partial_cmp(b)),
        _ => None,
    }
}

fn matches_cmp(v: &Val, op: Op, lit: &Lit) -> bool {
    if let Lit::Range(start, end) = lit {
        let x = match v {
            Val::Time(t) => *t,
            Val::Date(d) => i64::from(*d),
            _ => return op == Op::Ne,
        };
        return match op {
            Op::Eq => x >= *start && x < *end,
            Op::Ne => !(x >= *start && x < *end),
            Op::Lt => x < *start,
            Op::Le => x < *end,
            Op::Gt => x >= *end,
            Op::Ge => x >= *start,
        };
    }
    if matches!(lit, Lit::Null) {
        return match op {
            Op::Eq => v.is_null(),
            Op::Ne => !v.is_null(),
            _ => false,
        };
    }
    match cmp_lit(v, lit) {
        None => op == Op::Ne,
        Some(o) => match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        },
    }
}

/// SQL LIKE over lower-cased chars: `%` any run, `_` one char, `\` escapes.
fn like(text: &[char], pat: &[char]) -> bool {
    match pat.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|i| like(&text[i..], rest)),
        Some(('_', rest)) => !text.is_empty() && like(&text[1..], rest),
        Some(('\\', rest)) if !rest.is_empty() => {
            text.first() == rest.first() && like(&text[1..], &rest[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && like(&text[1..], rest),
    }
}

fn eval(data: &Data, obj: usize, rec: &Record, f: &Filter) -> bool {
    match f {
        Filter::And(v) => v.iter().all(|f| eval(data, obj, rec, f)),
        Filter::Or(v) => v.iter().any(|f| eval(data, obj, rec, f)),
        Filter::Not(f) => !eval(data, obj, rec, f),
        Filter::Cmp { path, op, lit } => matches_cmp(value_of(data, obj, rec, path), *op, lit),
        Filter::In {
            path,
            negated,
            lits,
        } => {
            let v = value_of(data, obj, rec, path);
            let hit = lits.iter().any(|l| matches_cmp(v, Op::Eq, l));
            hit != *negated
        }
        Filter::Like { path, pattern } => match value_of(data, obj, rec, path) {
            Val::Str(s) => {
                let text: Vec<char> = s.to_lowercase().chars().collect();
                like(&text, pattern)
            }
            _ => false,
        },
    }
}

impl Plan {
    /// Whether one record passes the WHERE clause.
    pub(crate) fn accepts(&self, data: &Data, rec: &Record) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| eval(data, self.obj, rec, f))
    }

    /// Indices (into the object's table) of the matching records, ordered and limited.
    pub(crate) fn run(&self, data: &Data, include_deleted: bool) -> Vec<usize> {
        self.run_where(data, include_deleted, |_| true)
    }

    /// Like [`Plan::run`], with an extra condition checked before ordering and limits.
    pub(crate) fn run_where(
        &self,
        data: &Data,
        include_deleted: bool,
        extra: impl Fn(&Record) -> bool,
    ) -> Vec<usize> {
        let table = &data.tables[self.obj];
        let mut rows: Vec<usize> = table
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| include_deleted || r.deleted_at.is_none())
            .filter(|(_, r)| self.accepts(data, r) && extra(r))
            .map(|(i, _)| i)
            .collect();
        if !self.order.is_empty() {
            rows.sort_by(|&a, &b| {
                let (ra, rb) = (&table.records[a], &table.records[b]);
                for (path, desc, nulls_last) in &self.order {
                    let va = value_of(data, self.obj, ra, path);
                    let vb = value_of(data, self.obj, rb, path);
                    let o = match (va.is_null(), vb.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => {
                            if *nulls_last {
                                Ordering::Greater
                            } else {
                                Ordering::Less
                            }
                        }
                        (false, true) => {
                            if *nulls_last {
                                Ordering::Less
                            } else {
                                Ordering::Greater
                            }
                        }
                        _ => {
                            let o = va.compare(vb);
                            if *desc { o.reverse() } else { o }
                        }
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.cmp(&b)
            });
        }
        let offset = self.offset.unwrap_or(0).min(rows.len());
        rows.drain(..offset);
        if let Some(limit) = self.limit {
            rows.truncate(limit);
        }
        rows
    }

    /// The JSON of one result record, relationships nested as Salesforce nests them.
    pub(crate) fn project(&self, data: &Data, idx: usize, version: &str) -> Value {
        let rec = &data.tables[self.obj].records[idx];
        let obj = SCHEMA.obj(self.obj);
        let mut map = Map::new();
        map.insert("attributes".into(), attributes(obj.name, &rec.id, version));
        if let Output::Records(paths) = &self.output {
            for path in paths {
                insert_path(data, &mut map, self.obj, rec, path, 0, version);
            }
        }
        Value::Object(map)
    }
}

fn insert_path(
    data: &Data,
    map: &mut Map<String, Value>,
    obj: usize,
    rec: &Record,
    path: &Path,
    depth: usize,
    version: &str,
) {
    if depth == path.hops.len() {
        if let Some(i) = path.leaf[obj] {
            map.insert(path.leaf_name.into(), rec.vals[i].to_json());
        }
        return;
    }
    let rel = path.rel_names[depth];
    let Some(target) = resolve(data, obj, rec, &path.hops[depth..=depth]) else {
        map.insert(rel.into(), Value::Null);
        return;
    };
    let (tobj, trec) = target;
    let entry = map.entry(rel.to_owned()).or_insert_with(|| {
        let mut m = Map::new();
        m.insert(
            "attributes".into(),
            attributes(SCHEMA.obj(tobj).name, &trec.id, version),
        );
        Value::Object(m)
    });
    if let Value::Object(m) = entry {
        insert_path(data, m, tobj, trec, path, depth + 1, version);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn like_handles_wildcards_and_escapes() {
        let t = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(like(&t("müller gmbh"), &t("%gmbh")));
        assert!(like(&t("abc"), &t("a_c")));
        assert!(!like(&t("abc"), &t("a\\_c")));
        assert!(like(&t("a_c"), &t("a\\_c")));
    }

    #[test]
    fn lexer_reads_datetime_literals() {
        let toks = lex("SystemModstamp > 2024-01-01T00:00:00Z AND x = 2024-01-02").unwrap();
        assert!(matches!(toks[2].tok, Tok::DateTime(_)));
        assert!(matches!(toks[6].tok, Tok::Date(_)));
    }

    #[test]
    fn malformed_query_points_at_the_bad_token() {
        let data = Data::new(&[1, 1, 1, 1, 1], 0);
        let err = compile("SELECT Id FRM Contact", &data, 0).unwrap_err();
        assert_eq!(err.code, "MALFORMED_QUERY");
        assert!(
            err.message
                .ends_with("ERROR at Row:1:Column:11\nunexpected token: 'FRM'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn mixing_and_or_without_parentheses_is_malformed() {
        let data = Data::new(&[1, 1, 1, 1, 1], 0);
        let err = compile(
            "SELECT Id FROM Contact WHERE Phone = 'a' AND Email = 'b' OR Name = 'c'",
            &data,
            0,
        )
        .unwrap_err();
        assert_eq!(err.code, "MALFORMED_QUERY");
        assert!(
            compile(
                "SELECT Id FROM Contact WHERE Phone = 'a' AND (Email = 'b' OR Name = 'c')",
                &data,
                0
            )
            .is_ok()
        );
    }
}
