//! XML-RPC codec for the STARFACE UCI: values, method calls and method responses, both
//! directions (we are a client of the PBX and a server for its callbacks; the emulator is the
//! reverse).
//!
//! We keep our own codec instead of `dxr` (0.9, serde + derive over quick-xml) because:
//! - the PBX and the clients around it are loose in ways a typed mapping rejects or hides:
//!   untyped `<value>text</value>` is a string (spec), `<nil/>` and `<ex:nil/>`, `<i8>`,
//!   booleans written `true`, a `methodCall` without `<params>`, `timestamp` of unknown type;
//!   a dynamic [`Value`] with lenient read helpers fits that better than derived structs;
//! - we need hard limits and precise errors on input from the network: DOCTYPE (and so entity
//!   expansion, XXE, "billion laughs") is refused, nesting is capped at [`MAX_DEPTH`], and every
//!   error names the byte offset and the element path where it happened;
//! - it is small (one file on top of quick-xml, which the workspace has anyway).
//!
//! Body size is the caller's business (the HTTP layer caps it); the decoder is linear in the
//! input and recursion is bounded by [`MAX_DEPTH`], so large or hostile input costs time, not
//! stack.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest nesting of arrays and structs the decoder accepts.
pub const MAX_DEPTH: usize = 64;

/// Members up to which a struct being decoded finds a repeated name by a linear search.
const LINEAR_MEMBERS: usize = 16;

/// Fault code we use for "could not parse the request" (interop convention for XML-RPC faults).
pub const FAULT_PARSE_ERROR: i32 = -32700;
/// Fault code for "no such method".
pub const FAULT_METHOD_NOT_FOUND: i32 = -32601;
/// Fault code for "wrong number or type of parameters".
pub const FAULT_INVALID_PARAMS: i32 = -32602;
/// Fault code for errors of the application behind the method.
pub const FAULT_APPLICATION: i32 = -32500;

/// One XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` / `<i4>`.
    Int(i32),
    /// `<i8>` (Apache extension, also understood by Python).
    I8(i64),
    /// `<boolean>`.
    Boolean(bool),
    /// `<string>` or an untyped `<value>`.
    String(String),
    /// `<double>`.
    Double(f64),
    /// `<dateTime.iso8601>`, kept as the text the peer sent (formats vary between servers).
    DateTime(String),
    /// `<base64>`, decoded.
    Base64(Vec<u8>),
    /// `<struct>`, members in document order.
    Struct(Struct),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<nil/>` (extension).
    Nil,
}

/// The members of an XML-RPC struct, in order; names are unique (a later duplicate replaces the
/// earlier value in place).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Struct {
    members: Vec<(String, Value)>,
}

/// An XML-RPC request.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// The method name, e.g. `ucp.v22.requests.connection.login`.
    pub method_name: String,
    /// The positional parameters.
    pub params: Vec<Value>,
}

/// An XML-RPC response: one value or a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodResponse {
    /// A successful call's single return value.
    Params(Value),
    /// A fault with its code and message.
    Fault {
        /// `faultCode`.
        code: i32,
        /// `faultString`.
        string: String,
    },
}

/// What went wrong while decoding or reading XML-RPC, with where it happened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum XmlRpcError {
    /// The body has no content at all.
    #[error("the XML-RPC body is empty")]
    Empty,
    /// The body's bytes do not match its declared encoding.
    #[error("the XML-RPC body is not valid {encoding} (first bad byte at offset {offset})")]
    Encoding {
        /// The encoding we decoded with.
        encoding: &'static str,
        /// Offset of the first undecodable byte.
        offset: usize,
    },
    /// The XML declaration names an encoding we do not read.
    #[error("the XML-RPC body declares encoding `{0}`; only UTF-8 and ISO-8859-1 are accepted")]
    UnsupportedEncoding(String),
    /// The XML itself is not well-formed.
    #[error("malformed XML at byte {offset}: {message}")]
    Syntax {
        /// Byte offset reported by the parser.
        offset: u64,
        /// The parser's message.
        message: String,
    },
    /// A `<!DOCTYPE>`: refused so that no entity can be declared or expanded.
    #[error("DOCTYPE declarations are not accepted in XML-RPC (found at byte {offset})")]
    DocType {
        /// Byte offset of the declaration.
        offset: u64,
    },
    /// An entity reference other than the five predefined ones or a character reference.
    #[error(
        "unknown entity `&{name};` at byte {offset} (only &lt; &gt; &amp; &apos; &quot; and character references are accepted)"
    )]
    UnknownEntity {
        /// The entity's name.
        name: String,
        /// Byte offset after the reference.
        offset: u64,
    },
    /// Well-formed XML that is not valid XML-RPC.
    #[error("invalid XML-RPC at byte {offset} in {path}: {message}")]
    Invalid {
        /// Byte offset after the offending event.
        offset: u64,
        /// Element path, e.g. `methodCall/params/param[1]/value/struct/member[id]`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Arrays/structs nested deeper than [`MAX_DEPTH`].
    #[error("XML-RPC values nested deeper than {limit} levels at byte {offset} in {path}")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Byte offset where the limit was passed.
        offset: u64,
        /// Element path at that point.
        path: String,
    },
    /// A decoded value has another type than the reader expected.
    #[error("{context}: expected {expected}, found {found}")]
    WrongType {
        /// What was being read, e.g. `result of ucp.v22.requests.connection.login`.
        context: String,
        /// The expected XML-RPC type.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// The peer answered with a fault.
    #[error("XML-RPC fault {code}: {string}")]
    Fault {
        /// `faultCode`.
        code: i32,
        /// `faultString`.
        string: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Values

impl Value {
    /// The XML-RPC type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::I8(_) => "i8",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Struct(_) => "struct",
            Value::Array(_) => "array",
            Value::Nil => "nil",
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is an `int`, or an `i8` that fits.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::Int(i) => Some(*i),
            Value::I8(i) => i32::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The integer, if this is an `int` or `i8`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i64::from(*i)),
            Value::I8(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, if this is a `double`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The members, if this is a struct.
    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A scalar as text: strings as they are, numbers in decimal, booleans as `true`/`false`,
    /// date-times as sent, base64 as base64. `None` for nil, structs and arrays.
    ///
    /// STARFACE sends call-event fields as strings, but the type of some (e.g. `timestamp`) is
    /// not documented, so readers of such fields go through here.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::String(s) | Value::DateTime(s) => Some(Cow::Borrowed(s)),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::I8(i) => Some(Cow::Owned(i.to_string())),
            Value::Boolean(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Value::Double(d) => Some(Cow::Owned(d.to_string())),
            Value::Base64(b) => Some(Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(b),
            )),
            Value::Struct(_) | Value::Array(_) | Value::Nil => None,
        }
    }

    /// The string, or a [`XmlRpcError::WrongType`] naming `context`.
    pub fn expect_str(&self, context: &str) -> Result<&str, XmlRpcError> {
        self.as_str()
            .ok_or_else(|| self.wrong_type(context, "string"))
    }

    /// The boolean, or a [`XmlRpcError::WrongType`] naming `context`.
    pub fn expect_bool(&self, context: &str) -> Result<bool, XmlRpcError> {
        self.as_bool()
            .ok_or_else(|| self.wrong_type(context, "boolean"))
    }

    /// The struct, or a [`XmlRpcError::WrongType`] naming `context`.
    pub fn expect_struct(&self, context: &str) -> Result<&Struct, XmlRpcError> {
        self.as_struct()
            .ok_or_else(|| self.wrong_type(context, "struct"))
    }

    /// The array, or a [`XmlRpcError::WrongType`] naming `context`.
    pub fn expect_array(&self, context: &str) -> Result<&[Value], XmlRpcError> {
        self.as_array()
            .ok_or_else(|| self.wrong_type(context, "array"))
    }

    /// An array of strings (e.g. phone ids), or a [`XmlRpcError::WrongType`] naming `context`.
    pub fn expect_string_array(&self, context: &str) -> Result<Vec<String>, XmlRpcError> {
        self.expect_array(context)?
            .iter()
            .map(|v| v.expect_str(context).map(str::to_owned))
            .collect()
    }

    fn wrong_type(&self, context: &str, expected: &'static str) -> XmlRpcError {
        XmlRpcError::WrongType {
            context: context.to_owned(),
            expected,
            found: self.type_name(),
        }
    }

    /// Appends this value as `<value>...</value>`.
    pub fn write_xml(&self, out: &mut String) {
        out.push_str("<value>");
        match self {
            Value::Int(i) => tagged(out, "int", &i.to_string()),
            Value::I8(i) => tagged(out, "i8", &i.to_string()),
            Value::Boolean(b) => tagged(out, "boolean", if *b { "1" } else { "0" }),
            Value::String(s) => {
                out.push_str("<string>");
                escape_into(out, s);
                out.push_str("</string>");
            }
            // Rust's Display for f64 never uses an exponent, as XML-RPC requires; non-finite
            // values have no XML-RPC form and are written as Rust spells them.
            Value::Double(d) => tagged(out, "double", &d.to_string()),
            Value::DateTime(s) => {
                out.push_str("<dateTime.iso8601>");
                escape_into(out, s);
                out.push_str("</dateTime.iso8601>");
            }
            Value::Base64(b) => tagged(
                out,
                "base64",
                &base64::engine::general_purpose::STANDARD.encode(b),
            ),
            Value::Struct(s) => {
                out.push_str("<struct>");
                for (name, value) in &s.members {
                    out.push_str("<member><name>");
                    escape_into(out, name);
                    out.push_str("</name>");
                    value.write_xml(out);
                    out.push_str("</member>");
                }
                out.push_str("</struct>");
            }
            Value::Array(items) => {
                out.push_str("<array><data>");
                for item in items {
                    item.write_xml(out);
                }
                out.push_str("</data></array>");
            }
            Value::Nil => out.push_str("<nil/>"),
        }
        out.push_str("</value>");
    }
}

fn tagged(out: &mut String, tag: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    out.push_str(text);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// Escapes text content. `\r` becomes a character reference so that it survives XML's
/// end-of-line normalisation; characters XML 1.0 cannot carry at all become U+FFFD.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' => out.push(c),
            // A carriage return would be turned into a newline by the reader's line-end
            // normalisation; as a reference it survives.
            '\r' => out.push_str("&#13;"),
            // XML 1.0 has no way to carry other C0 controls or U+FFFE/U+FFFF, not even as
            // character references: a conforming reader rejects the whole document.
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::I8(i)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

impl From<Struct> for Value {
    fn from(s: Struct) -> Self {
        Value::Struct(s)
    }
}

impl Struct {
    /// An empty struct.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a member; an existing member of that name keeps its position and gets the value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self.members.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.members.push((name, value)),
        }
    }

    /// Builder form of [`Struct::insert`].
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(name, value);
        self
    }

    /// The member's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The member as text (see [`Value::to_text`]); `None` when missing, nil or not a scalar.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::to_text).map(Cow::into_owned)
    }

    /// The member as text, or the empty string: STARFACE sends unknown values as empty strings,
    /// so for call-event fields "missing" and "empty" mean the same.
    pub fn text_or_empty(&self, name: &str) -> String {
        self.text(name).unwrap_or_default()
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.members.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Struct {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut s = Struct::new();
        for (k, v) in iter {
            s.insert(k, v);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Calls and responses

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

impl MethodCall {
    /// A call of `method_name` with `params`.
    pub fn new(method_name: impl Into<String>, params: Vec<Value>) -> Self {
        Self {
            method_name: method_name.into(),
            params,
        }
    }

    /// The call as an XML document (UTF-8).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str(XML_DECL);
        out.push_str("<methodCall><methodName>");
        escape_into(&mut out, &self.method_name);
        out.push_str("</methodName><params>");
        for p in &self.params {
            out.push_str("<param>");
            p.write_xml(&mut out);
            out.push_str("</param>");
        }
        out.push_str("</params></methodCall>");
        out
    }

    /// Parses a `<methodCall>` document (UTF-8, or ISO-8859-1 when declared so).
    pub fn from_xml(body: impl AsRef<[u8]>) -> Result<Self, XmlRpcError> {
        let text = decode_body(body.as_ref())?;
        let mut p = Parser::new(&text);
        p.expect_root("methodCall")?;
        p.expect_start("methodName")?;
        let method_name = p.text_until_end("methodName")?;
        let method_name = method_name.trim().to_owned();
        if method_name.is_empty() {
            return Err(p.invalid("the method name is empty"));
        }
        if let Some(bad) = method_name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/')))
        {
            return Err(p.invalid(format!(
                "the method name `{method_name}` contains `{bad}`; XML-RPC allows letters, digits, `_`, `.`, `:` and `/`"
            )));
        }
        let mut params = Vec::new();
        match p.next_structural()? {
            Node::Start(name) if name == "params" => {
                p.path.push(Seg::Name(Cow::Borrowed("params")));
                loop {
                    match p.next_structural()? {
                        Node::Start(name) if name == "param" => {
                            p.path.push(Seg::Param(params.len() + 1));
                            p.expect_start("value")?;
                            params.push(p.value_after_start()?);
                            p.expect_end("param")?;
                            p.path.pop();
                        }
                        Node::End(name) if name == "params" => break,
                        other => return Err(p.unexpected(&other, "<param> or </params>")),
                    }
                }
                p.path.pop();
                p.expect_end("methodCall")?;
            }
            // Some clients send no <params> at all for calls without arguments.
            Node::End(name) if name == "methodCall" => {}
            other => return Err(p.unexpected(&other, "<params> or </methodCall>")),
        }
        p.expect_eof()?;
        Ok(Self {
            method_name,
            params,
        })
    }
}

impl MethodResponse {
    /// A successful response.
    pub fn success(value: impl Into<Value>) -> Self {
        MethodResponse::Params(value.into())
    }

    /// A fault response.
    pub fn fault(code: i32, string: impl Into<String>) -> Self {
        MethodResponse::Fault {
            code,
            string: string.into(),
        }
    }

    /// The value, or the fault as [`XmlRpcError::Fault`].
    pub fn into_value(self) -> Result<Value, XmlRpcError> {
        match self {
            MethodResponse::Params(v) => Ok(v),
            MethodResponse::Fault { code, string } => Err(XmlRpcError::Fault { code, string }),
        }
    }

    /// The response as an XML document (UTF-8).
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str(XML_DECL);
        out.push_str("<methodResponse>");
        match self {
            MethodResponse::Params(v) => {
                out.push_str("<params><param>");
                v.write_xml(&mut out);
                out.push_str("</param></params>");
            }
            MethodResponse::Fault { code, string } => {
                out.push_str("<fault>");
                Value::Struct(
                    Struct::new()
                        .with("faultCode", *code)
                        .with("faultString", string.as_str()),
                )
                .write_xml(&mut out);
                out.push_str("</fault>");
            }
        }
        out.push_str("</methodResponse>");
        out
    }

    /// Parses a `<methodResponse>` document.
    pub fn from_xml(body: impl AsRef<[u8]>) -> Result<Self, XmlRpcError> {
        let text = decode_body(body.as_ref())?;
        let mut p = Parser::new(&text);
        p.expect_root("methodResponse")?;
        let response = match p.next_structural()? {
            Node::Start(name) if name == "params" => {
                p.path.push(Seg::Name(Cow::Borrowed("params")));
                p.expect_start("param")?;
                p.path.push(Seg::Param(1));
                p.expect_start("value")?;
                let v = p.value_after_start()?;
                p.expect_end("param")?;
                p.path.pop();
                p.expect_end("params")?;
                p.path.pop();
                MethodResponse::Params(v)
            }
            Node::Start(name) if name == "fault" => {
                p.path.push(Seg::Name(Cow::Borrowed("fault")));
                p.expect_start("value")?;
                let v = p.value_after_start()?;
                let fault = v
                    .as_struct()
                    .ok_or_else(|| p.invalid("the fault value is not a struct"))?;
                let code = match fault.get("faultCode") {
                    Some(Value::Int(i)) => *i,
                    Some(Value::I8(i)) => i32::try_from(*i)
                        .map_err(|_| p.invalid(format!("faultCode {i} does not fit an int")))?,
                    // Lenient: some servers send the code as a string.
                    Some(Value::String(s)) => s
                        .trim()
                        .parse()
                        .map_err(|_| p.invalid(format!("faultCode `{s}` is not an integer")))?,
                    Some(other) => {
                        return Err(p.invalid(format!(
                            "faultCode is a {}, expected int",
                            other.type_name()
                        )));
                    }
                    None => return Err(p.invalid("the fault struct has no faultCode")),
                };
                let string = fault.text("faultString").unwrap_or_default();
                p.expect_end("fault")?;
                p.path.pop();
                MethodResponse::Fault { code, string }
            }
            other => return Err(p.unexpected(&other, "<params> or <fault>")),
        };
        p.expect_end("methodResponse")?;
        p.expect_eof()?;
        Ok(response)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Turns the body into text: UTF-8 unless the XML declaration says ISO-8859-1 (or ASCII, read
/// the same way); old PHP XML-RPC libraries declare Latin-1.
fn decode_body(body: &[u8]) -> Result<Cow<'_, str>, XmlRpcError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(XmlRpcError::Empty);
    }
    match declared_encoding(body) {
        None => utf8(body),
        Some(enc) => {
            let lower = enc.to_ascii_lowercase();
            match lower.as_str() {
                "utf-8" | "utf8" => utf8(body),
                "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "us-ascii" | "ascii" => {
                    Ok(Cow::Owned(body.iter().map(|&b| char::from(b)).collect()))
                }
                _ => Err(XmlRpcError::UnsupportedEncoding(enc)),
            }
        }
    }
}

fn utf8(body: &[u8]) -> Result<Cow<'_, str>, XmlRpcError> {
    std::str::from_utf8(body)
        .map(Cow::Borrowed)
        .map_err(|e| XmlRpcError::Encoding {
            encoding: "UTF-8",
            offset: e.valid_up_to(),
        })
}

/// The `encoding` pseudo-attribute of a leading `<?xml ...?>`, if any.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = body.get(start..)?;
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = rest.windows(2).take(512).position(|w| w == b"?>")?;
    let decl = String::from_utf8_lossy(rest.get(..end)?).into_owned();
    let at = decl.find("encoding")?;
    let after = decl.get(at + "encoding".len()..)?.trim_start();
    let after = after.strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = after.get(1..)?;
    let close = value.find(quote)?;
    Some(value.get(..close)?.to_owned())
}

/// A structural event with text merged: what the grammar below consumes.
#[derive(Debug)]
enum Node {
    Start(Cow<'static, str>),
    End(Cow<'static, str>),
    Text(String),
    Eof,
}

/// Element names of XML-RPC, so that reading them allocates nothing.
const KNOWN_NAMES: &[&str] = &[
    "value",
    "member",
    "name",
    "string",
    "struct",
    "param",
    "params",
    "array",
    "data",
    "int",
    "i4",
    "i8",
    "boolean",
    "double",
    "dateTime.iso8601",
    "base64",
    "nil",
    "methodCall",
    "methodName",
    "methodResponse",
    "fault",
];

/// An element's local name; names outside XML-RPC's own are copied.
fn element_name(local: &[u8]) -> Cow<'static, str> {
    match KNOWN_NAMES.iter().find(|n| n.as_bytes() == local) {
        Some(n) => Cow::Borrowed(n),
        None => Cow::Owned(String::from_utf8_lossy(local).into_owned()),
    }
}

/// One step of the element path that errors name; formatted only when an error is built.
#[derive(Debug)]
enum Seg {
    Name(Cow<'static, str>),
    /// `param[n]`, from 1.
    Param(usize),
    /// `member[n]` while the member's name is being read, from 1.
    MemberNo(usize),
    /// `member[name]`.
    Member(String),
    /// `[n]` of an array, from 1.
    Item(usize),
}

impl fmt::Display for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seg::Name(n) => f.write_str(n),
            Seg::Param(i) => write!(f, "param[{i}]"),
            Seg::MemberNo(i) => write!(f, "member[{i}]"),
            Seg::Member(name) => write!(f, "member[{name}]"),
            Seg::Item(i) => write!(f, "[{i}]"),
        }
    }
}

impl Node {
    fn describe(&self) -> String {
        match self {
            Node::Start(n) => format!("<{n}>"),
            Node::End(n) => format!("</{n}>"),
            Node::Text(t) => {
                let shown: String = t.trim().chars().take(40).collect();
                format!("text `{shown}`")
            }
            Node::Eof => "the end of the document".to_owned(),
        }
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    peeked: Option<Node>,
    path: Vec<Seg>,
    depth: usize,
    seen_root: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        Self {
            reader,
            peeked: None,
            path: Vec::new(),
            depth: 0,
            seen_root: false,
        }
    }

    fn offset(&self) -> u64 {
        self.reader.buffer_position()
    }

    fn path_string(&self) -> String {
        if self.path.is_empty() {
            return "the document".to_owned();
        }
        let mut out = String::new();
        for (i, seg) in self.path.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&seg.to_string());
        }
        out
    }

    fn invalid(&self, message: impl Into<String>) -> XmlRpcError {
        XmlRpcError::Invalid {
            offset: self.offset(),
            path: self.path_string(),
            message: message.into(),
        }
    }

    fn unexpected(&self, found: &Node, expected: &str) -> XmlRpcError {
        self.invalid(format!("expected {expected}, found {}", found.describe()))
    }

    fn syntax(&self, e: impl fmt::Display) -> XmlRpcError {
        XmlRpcError::Syntax {
            offset: self.reader.error_position(),
            message: e.to_string(),
        }
    }

    /// The next node, merging adjacent text, CDATA and references; comments and processing
    /// instructions are skipped.
    fn next(&mut self) -> Result<Node, XmlRpcError> {
        if let Some(n) = self.peeked.take() {
            return Ok(n);
        }
        let mut text: Option<String> = None;
        loop {
            let event = self.reader.read_event().map_err(|e| self.syntax(e))?;
            let node = match event {
                Event::Text(t) => {
                    let s = t.xml10_content().map_err(|e| self.syntax(e))?;
                    text.get_or_insert_with(String::new).push_str(&s);
                    continue;
                }
                Event::CData(c) => {
                    let s = c.decode().map_err(|e| self.syntax(e))?;
                    text.get_or_insert_with(String::new).push_str(&s);
                    continue;
                }
                Event::GeneralRef(r) => {
                    let c = self.resolve_ref(&r)?;
                    text.get_or_insert_with(String::new).push(c);
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Decl(_) => {
                    if self.seen_root || text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
                        return Err(self.invalid("an XML declaration after the start"));
                    }
                    continue;
                }
                Event::DocType(_) => {
                    return Err(XmlRpcError::DocType {
                        offset: self.offset(),
                    });
                }
                Event::Start(e) => Node::Start(element_name(e.local_name().as_ref())),
                // Not produced with expand_empty_elements; handled the same for safety.
                Event::Empty(e) => Node::Start(element_name(e.local_name().as_ref())),
                Event::End(e) => Node::End(element_name(e.local_name().as_ref())),
                Event::Eof => Node::Eof,
            };
            return Ok(match text {
                Some(t) => {
                    self.peeked = Some(node);
                    Node::Text(t)
                }
                None => node,
            });
        }
    }

    fn resolve_ref(&self, r: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlRpcError> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(c),
                Ok(None) | Err(_) => Err(self.invalid(format!(
                    "invalid character reference `&{};`",
                    String::from_utf8_lossy(r)
                ))),
            };
        }
        let name = String::from_utf8_lossy(r).into_owned();
        match name.as_str() {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            _ => Err(XmlRpcError::UnknownEntity {
                name,
                offset: self.offset(),
            }),
        }
    }

    /// The next node that is not whitespace-only text; other text is an error here.
    fn next_structural(&mut self) -> Result<Node, XmlRpcError> {
        loop {
            match self.next()? {
                Node::Text(t) if t.trim().is_empty() => continue,
                Node::Text(t) => {
                    return Err(self.unexpected(&Node::Text(t), "an element"));
                }
                n => return Ok(n),
            }
        }
    }

    fn expect_root(&mut self, name: &'static str) -> Result<(), XmlRpcError> {
        match self.next_structural()? {
            Node::Start(n) if n == name => {
                self.seen_root = true;
                self.path.push(Seg::Name(Cow::Borrowed(name)));
                Ok(())
            }
            other => Err(self.unexpected(&other, &format!("<{name}>"))),
        }
    }

    fn expect_start(&mut self, name: &str) -> Result<(), XmlRpcError> {
        match self.next_structural()? {
            Node::Start(n) if n == name => Ok(()),
            other => Err(self.unexpected(&other, &format!("<{name}>"))),
        }
    }

    fn expect_end(&mut self, name: &str) -> Result<(), XmlRpcError> {
        match self.next_structural()? {
            Node::End(n) if n == name => Ok(()),
            other => Err(self.unexpected(&other, &format!("</{name}>"))),
        }
    }

    fn expect_eof(&mut self) -> Result<(), XmlRpcError> {
        self.path.clear();
        match self.next_structural()? {
            Node::Eof => Ok(()),
            other => Err(self.unexpected(&other, "the end of the document")),
        }
    }

    /// Text content up to `</name>`; child elements are an error.
    fn text_until_end(&mut self, name: &str) -> Result<String, XmlRpcError> {
        let mut out = String::new();
        loop {
            match self.next()? {
                // Adjacent text is merged by `next`, so this is nearly always the only piece.
                Node::Text(t) if out.is_empty() => out = t,
                Node::Text(t) => out.push_str(&t),
                Node::End(n) if n == name => return Ok(out),
                other => {
                    return Err(self.unexpected(&other, &format!("text or </{name}>")));
                }
            }
        }
    }

    /// Parses the rest of a `<value>` whose start tag was just read, through `</value>`.
    fn value_after_start(&mut self) -> Result<Value, XmlRpcError> {
        self.path.push(Seg::Name(Cow::Borrowed("value")));
        let value = match self.next()? {
            Node::End(n) if n == "value" => {
                self.path.pop();
                return Ok(Value::String(String::new()));
            }
            Node::Text(t) => match self.next()? {
                // Untyped value: a string, whitespace kept (XML-RPC spec).
                Node::End(n) if n == "value" => {
                    self.path.pop();
                    return Ok(Value::String(t));
                }
                Node::Start(ty) if t.trim().is_empty() => self.typed(ty)?,
                other => {
                    return Err(self.unexpected(&other, "</value> after the untyped text"));
                }
            },
            Node::Start(ty) => self.typed(ty)?,
            other => return Err(self.unexpected(&other, "a type element or text")),
        };
        self.expect_end("value")?;
        self.path.pop();
        Ok(value)
    }

    /// Parses a typed value whose start tag `<ty>` was just read, through `</ty>`.
    fn typed(&mut self, ty: Cow<'static, str>) -> Result<Value, XmlRpcError> {
        self.path.push(Seg::Name(ty.clone()));
        let ty = &*ty;
        let v =
            match ty {
                "string" => Value::String(self.text_until_end(ty)?),
                "int" | "i4" => {
                    let t = self.text_until_end(ty)?;
                    Value::Int(t.trim().parse().map_err(|_| {
                        self.invalid(format!("`{}` is not a 32-bit integer", t.trim()))
                    })?)
                }
                "i8" => {
                    let t = self.text_until_end(ty)?;
                    Value::I8(t.trim().parse().map_err(|_| {
                        self.invalid(format!("`{}` is not a 64-bit integer", t.trim()))
                    })?)
                }
                "boolean" => {
                    let t = self.text_until_end(ty)?;
                    Value::Boolean(match t.trim() {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        other => {
                            return Err(self
                                .invalid(format!("`{other}` is not a boolean (expected 0 or 1)")));
                        }
                    })
                }
                "double" => {
                    let t = self.text_until_end(ty)?;
                    Value::Double(
                        t.trim()
                            .parse()
                            .map_err(|_| self.invalid(format!("`{}` is not a double", t.trim())))?,
                    )
                }
                "dateTime.iso8601" => {
                    let t = self.text_until_end(ty)?;
                    let t = t.trim();
                    if t.is_empty() {
                        return Err(self.invalid("empty dateTime.iso8601"));
                    }
                    Value::DateTime(t.to_owned())
                }
                "base64" => {
                    let t = self.text_until_end(ty)?;
                    let compact: String = t.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                    Value::Base64(
                        base64::engine::general_purpose::STANDARD
                            .decode(compact.as_bytes())
                            .map_err(|e| self.invalid(format!("invalid base64: {e}")))?,
                    )
                }
                "nil" => {
                    let t = self.text_until_end(ty)?;
                    if !t.trim().is_empty() {
                        return Err(self.invalid("<nil/> must be empty"));
                    }
                    Value::Nil
                }
                "struct" => self.structure()?,
                "array" => self.array()?,
                other => {
                    return Err(self.invalid(format!("unknown value type <{other}>")));
                }
            };
        self.path.pop();
        Ok(v)
    }

    fn enter(&mut self) -> Result<(), XmlRpcError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(XmlRpcError::TooDeep {
                limit: MAX_DEPTH,
                offset: self.offset(),
                path: self.path_string(),
            });
        }
        Ok(())
    }

    fn structure(&mut self) -> Result<Value, XmlRpcError> {
        self.enter()?;
        let mut s = Struct::new();
        // Name -> position once the struct is large, so that a hostile struct with many
        // members stays linear; small ones (the PBX's) are searched without hashing.
        let mut index: Option<std::collections::HashMap<String, usize>> = None;
        loop {
            match self.next_structural()? {
                Node::Start(n) if n == "member" => {
                    self.path.push(Seg::MemberNo(s.len() + 1));
                    self.expect_start("name")?;
                    let name = self.text_until_end("name")?;
                    if let Some(last) = self.path.last_mut() {
                        // Kept in the path while the value is read, taken back after.
                        *last = Seg::Member(name);
                    }
                    self.expect_start("value")?;
                    let value = self.value_after_start()?;
                    self.expect_end("member")?;
                    let Some(Seg::Member(name)) = self.path.pop() else {
                        return Err(self.invalid("internal: the member's path step is gone"));
                    };
                    let at = match &index {
                        Some(ix) => ix.get(&name).copied(),
                        None => s.members.iter().position(|(n, _)| *n == name),
                    };
                    match at {
                        Some(at) => s.members[at].1 = value,
                        None => {
                            if let Some(ix) = &mut index {
                                ix.insert(name.clone(), s.members.len());
                            }
                            s.members.push((name, value));
                            if index.is_none() && s.members.len() > LINEAR_MEMBERS {
                                index = Some(
                                    s.members
                                        .iter()
                                        .enumerate()
                                        .map(|(i, (n, _))| (n.clone(), i))
                                        .collect(),
                                );
                            }
                        }
                    }
                }
                Node::End(n) if n == "struct" => break,
                other => return Err(self.unexpected(&other, "<member> or </struct>")),
            }
        }
        self.depth -= 1;
        Ok(Value::Struct(s))
    }

    fn array(&mut self) -> Result<Value, XmlRpcError> {
        self.enter()?;
        self.expect_start("data")?;
        self.path.push(Seg::Name(Cow::Borrowed("data")));
        let mut items = Vec::new();
        loop {
            match self.next_structural()? {
                Node::Start(n) if n == "value" => {
                    self.path.push(Seg::Item(items.len() + 1));
                    items.push(self.value_after_start()?);
                    self.path.pop();
                }
                Node::End(n) if n == "data" => break,
                other => return Err(self.unexpected(&other, "<value> or </data>")),
            }
        }
        self.path.pop();
        self.expect_end("array")?;
        self.depth -= 1;
        Ok(Value::Array(items))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn call(xml: &str) -> Result<MethodCall, XmlRpcError> {
        MethodCall::from_xml(xml)
    }

    fn one_param(xml_value: &str) -> Result<Value, XmlRpcError> {
        let doc = format!(
            "<methodCall><methodName>m</methodName><params><param>{xml_value}</param></params></methodCall>"
        );
        call(&doc).map(|mut c| c.params.remove(0))
    }

    #[test]
    fn untyped_value_is_a_string_with_its_whitespace() {
        assert_eq!(
            one_param("<value>  a b </value>").unwrap(),
            Value::from("  a b ")
        );
        assert_eq!(one_param("<value></value>").unwrap(), Value::from(""));
        assert_eq!(one_param("<value/>").unwrap(), Value::from(""));
    }

    #[test]
    fn whitespace_around_a_typed_value_is_ignored_but_kept_inside_strings() {
        let v = one_param("<value>\n  <string> x </string>\n</value>").unwrap();
        assert_eq!(v, Value::from(" x "));
        let v = one_param("<value> <int> 42 </int> </value>").unwrap();
        assert_eq!(v, Value::Int(42));
    }

    #[test]
    fn python_style_request_with_newlines_parses() {
        let xml = "<?xml version='1.0'?>\n<methodCall>\n<methodName>ucp.v22.requests.service.subscribeEvents</methodName>\n<params>\n<param>\n<value><string>ucp.v22.events.call</string></value>\n</param>\n</params>\n</methodCall>\n";
        let c = call(xml).unwrap();
        assert_eq!(c.method_name, "ucp.v22.requests.service.subscribeEvents");
        assert_eq!(c.params, vec![Value::from("ucp.v22.events.call")]);
    }

    #[test]
    fn method_call_without_params_element_is_accepted() {
        let c = call(
            "<methodCall><methodName>ucp.v22.requests.connection.login</methodName></methodCall>",
        )
        .unwrap();
        assert_eq!(c.method_name, "ucp.v22.requests.connection.login");
        assert!(c.params.is_empty());
    }

    #[test]
    fn entities_character_references_and_cdata_are_decoded() {
        let v = one_param("<value><string>a &amp; b &lt;c&gt; &quot;&apos; &#228;&#x00FC; <![CDATA[<raw & stuff>]]></string></value>")
            .unwrap();
        assert_eq!(v, Value::from("a & b <c> \"' äü <raw & stuff>"));
    }

    #[test]
    fn unknown_entity_is_refused() {
        let e = one_param("<value><string>&foo;</string></value>").unwrap_err();
        assert!(
            matches!(e, XmlRpcError::UnknownEntity { ref name, .. } if name == "foo"),
            "{e}"
        );
    }

    #[test]
    fn doctype_is_refused_so_no_entity_expansion_happens() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<methodCall><methodName>m</methodName><params><param><value>&lol2;</value></param></params></methodCall>"#;
        assert!(matches!(
            call(laughs).unwrap_err(),
            XmlRpcError::DocType { .. }
        ));
        let xxe = r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><methodCall><methodName>&xxe;</methodName></methodCall>"#;
        assert!(matches!(
            call(xxe).unwrap_err(),
            XmlRpcError::DocType { .. }
        ));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        let mut xml = String::from("<methodCall><methodName>m</methodName><params><param><value>");
        for _ in 0..depth {
            xml.push_str("<array><data><value>");
        }
        let e = call(&xml).unwrap_err();
        assert!(
            matches!(
                e,
                XmlRpcError::TooDeep {
                    limit: MAX_DEPTH,
                    ..
                }
            ),
            "{e}"
        );

        let ok_depth = MAX_DEPTH;
        let mut v = Value::Int(1);
        for _ in 0..ok_depth {
            v = Value::Array(vec![v]);
        }
        let c = MethodCall::new("m", vec![v.clone()]);
        assert_eq!(MethodCall::from_xml(c.to_xml()).unwrap().params, vec![v]);
    }

    #[test]
    fn errors_name_the_path_and_the_offset() {
        let xml = "<methodCall><methodName>m</methodName><params><param><value><struct>\
                   <member><name>id</name><value><int>12x</int></value></member>\
                   </struct></value></param></params></methodCall>";
        let e = call(xml).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("param[1]/value/struct/member[id]/value/int"),
            "{msg}"
        );
        assert!(msg.contains("`12x` is not a 32-bit integer"), "{msg}");
        assert!(msg.contains("at byte"), "{msg}");
    }

    #[test]
    fn malformed_xml_is_a_syntax_error() {
        let e = call("<methodCall><methodName>m</methodName></methodCal>").unwrap_err();
        assert!(matches!(e, XmlRpcError::Syntax { .. }), "{e}");
        assert!(matches!(call("   \n").unwrap_err(), XmlRpcError::Empty));
        assert!(matches!(call("").unwrap_err(), XmlRpcError::Empty));
    }

    #[test]
    fn unknown_value_type_and_mixed_content_are_errors() {
        let e = one_param("<value><float>1</float></value>").unwrap_err();
        assert!(e.to_string().contains("unknown value type <float>"), "{e}");
        let e = one_param("<value>x<int>1</int></value>").unwrap_err();
        assert!(matches!(e, XmlRpcError::Invalid { .. }), "{e}");
    }

    #[test]
    fn trailing_content_after_the_root_is_an_error() {
        let e = call("<methodCall><methodName>m</methodName></methodCall><x/>").unwrap_err();
        assert!(
            matches!(e, XmlRpcError::Invalid { .. } | XmlRpcError::Syntax { .. }),
            "{e}"
        );
    }

    #[test]
    fn bad_method_names_are_refused() {
        assert!(call("<methodCall><methodName> </methodName></methodCall>").is_err());
        assert!(call("<methodCall><methodName>a b</methodName></methodCall>").is_err());
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_offset() {
        let mut body = b"<methodCall><methodName>m</methodName><params><param><value>".to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(b"</value></param></params></methodCall>");
        let e = MethodCall::from_xml(&body).unwrap_err();
        assert_eq!(
            e,
            XmlRpcError::Encoding {
                encoding: "UTF-8",
                offset: 60
            }
        );
    }

    #[test]
    fn latin1_declared_body_is_decoded_as_latin1() {
        let mut body =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>m</methodName><params><param><value><string>M".to_vec();
        body.push(0xfc); // u-umlaut in Latin-1
        body.extend_from_slice(b"ller</string></value></param></params></methodCall>");
        let c = MethodCall::from_xml(&body).unwrap();
        assert_eq!(c.params, vec![Value::from("Müller")]);
        let e =
            MethodCall::from_xml("<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>").unwrap_err();
        assert!(matches!(e, XmlRpcError::UnsupportedEncoding(_)));
    }

    #[test]
    fn scalar_types_decode() {
        assert_eq!(
            one_param("<value><i4>-7</i4></value>").unwrap(),
            Value::Int(-7)
        );
        assert_eq!(
            one_param("<value><i8>9000000000</i8></value>").unwrap(),
            Value::I8(9_000_000_000)
        );
        assert_eq!(
            one_param("<value><ex:i8>5</ex:i8></value>").unwrap(),
            Value::I8(5)
        );
        assert_eq!(
            one_param("<value><boolean>1</boolean></value>").unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            one_param("<value><boolean>false</boolean></value>").unwrap(),
            Value::Boolean(false)
        );
        assert_eq!(
            one_param("<value><double>-1.5</double></value>").unwrap(),
            Value::Double(-1.5)
        );
        assert_eq!(
            one_param("<value><dateTime.iso8601>20250101T10:00:00</dateTime.iso8601></value>")
                .unwrap(),
            Value::DateTime("20250101T10:00:00".into())
        );
        assert_eq!(
            one_param("<value><base64>aGVs\nbG8=</base64></value>").unwrap(),
            Value::Base64(b"hello".to_vec())
        );
        assert_eq!(one_param("<value><nil/></value>").unwrap(), Value::Nil);
        assert_eq!(one_param("<value><ex:nil/></value>").unwrap(), Value::Nil);
        assert!(one_param("<value><int>99999999999</int></value>").is_err());
        assert!(one_param("<value><boolean>2</boolean></value>").is_err());
    }

    #[test]
    fn struct_fields_read_as_text_whatever_their_type() {
        let v = one_param(
            "<value><struct><member><name>id</name><value>abc</value></member>\
             <member><name>timestamp</name><value><i8>1700000000000</i8></value></member>\
             <member><name>state</name><value><string></string></value></member></struct></value>",
        )
        .unwrap();
        let s = v.expect_struct("event").unwrap();
        assert_eq!(s.text("id").as_deref(), Some("abc"));
        assert_eq!(s.text("timestamp").as_deref(), Some("1700000000000"));
        assert_eq!(s.text_or_empty("state"), "");
        assert_eq!(s.text_or_empty("callerName"), "");
        assert_eq!(s.text("missing"), None);
    }

    #[test]
    fn duplicate_struct_members_keep_the_first_position_and_the_last_value() {
        let v = one_param(
            "<value><struct><member><name>a</name><value>1</value></member>\
             <member><name>b</name><value>2</value></member>\
             <member><name>a</name><value>3</value></member></struct></value>",
        )
        .unwrap();
        let s = v.as_struct().unwrap();
        assert_eq!(s.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(s.text("a").as_deref(), Some("3"));
    }

    #[test]
    fn a_struct_with_many_members_decodes_quickly() {
        let mut xml = String::from("<value><struct>");
        for i in 0..50_000 {
            xml.push_str(&format!("<member><name>m{i}</name><value/></member>"));
        }
        xml.push_str("</struct></value>");
        let started = std::time::Instant::now();
        let v = one_param(&xml).unwrap();
        assert_eq!(v.as_struct().unwrap().len(), 50_000);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn wrong_type_names_the_context() {
        let e = Value::Int(1).expect_bool("result of login").unwrap_err();
        assert_eq!(
            e.to_string(),
            "result of login: expected boolean, found int"
        );
    }

    #[test]
    fn fault_roundtrips_and_becomes_an_error() {
        let f = MethodResponse::fault(-32601, "no such method <x> & y");
        let back = MethodResponse::from_xml(f.to_xml()).unwrap();
        assert_eq!(back, f);
        assert_eq!(
            back.into_value().unwrap_err(),
            XmlRpcError::Fault {
                code: -32601,
                string: "no such method <x> & y".into()
            }
        );
    }

    #[test]
    fn python_style_fault_and_response_parse() {
        let fault = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>&lt;class 'Exception'&gt;:boom</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
        assert_eq!(
            MethodResponse::from_xml(fault).unwrap(),
            MethodResponse::fault(1, "<class 'Exception'>:boom")
        );
        let ok = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><boolean>1</boolean></value>\n</param>\n</params>\n</methodResponse>\n";
        assert_eq!(
            MethodResponse::from_xml(ok).unwrap(),
            MethodResponse::success(true)
        );
    }

    #[test]
    fn carriage_returns_survive_and_forbidden_controls_become_replacement_characters() {
        let s = "a\r\nb\u{1}c\td\u{1b}\u{ffff}";
        let c = MethodCall::new("m", vec![Value::from(s)]);
        let xml = c.to_xml();
        // XML 1.0 forbids `&#1;` as much as a raw U+0001: a strict peer would refuse the call.
        assert!(!xml.contains("&#1;") && !xml.contains('\u{1}'), "{xml}");
        assert_eq!(
            MethodCall::from_xml(xml).unwrap().params,
            vec![Value::from("a\r\nb\u{fffd}c\td\u{fffd}\u{fffd}")]
        );
    }

    #[test]
    fn encoded_call_has_the_documented_shape() {
        let c = MethodCall::new(
            "ucp.v22.events.call.receiveCallState",
            vec![Value::Struct(
                Struct::new().with("id", "x").with("state", "RINGING"),
            )],
        );
        assert_eq!(
            c.to_xml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName>\
             <params><param><value><struct><member><name>id</name><value><string>x</string></value></member>\
             <member><name>state</name><value><string>RINGING</string></value></member></struct></value></param></params></methodCall>"
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Value::Int),
            any::<i64>().prop_map(Value::I8),
            any::<bool>().prop_map(Value::Boolean),
            "\\PC*".prop_map(Value::String),
            // Only what XML 1.0 can carry: other characters are replaced on purpose.
            any::<String>().prop_map(|s| Value::String(
                s.chars()
                    .filter(
                        |c| !matches!(*c as u32, 0..=8 | 0xb | 0xc | 0xe..=0x1f | 0xfffe | 0xffff)
                    )
                    .collect()
            )),
            any::<f64>()
                .prop_filter("finite", |d| d.is_finite())
                .prop_map(Value::Double),
            "[0-9]{8}T[0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Value::DateTime),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Base64),
            Just(Value::Nil),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec(("\\PC{0,12}", inner), 0..8)
                    .prop_map(|members| Value::Struct(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_back_the_call(
            name in "[A-Za-z_][A-Za-z0-9_.:/]{0,40}",
            params in proptest::collection::vec(arb_value(), 0..5),
        ) {
            let c = MethodCall::new(name, params);
            prop_assert_eq!(MethodCall::from_xml(c.to_xml()).unwrap(), c);
        }

        #[test]
        fn encode_then_decode_gives_back_the_response(v in arb_value(), code in any::<i32>(), s in "\\PC*") {
            let r = MethodResponse::success(v);
            prop_assert_eq!(MethodResponse::from_xml(r.to_xml()).unwrap(), r);
            let f = MethodResponse::fault(code, s);
            prop_assert_eq!(MethodResponse::from_xml(f.to_xml()).unwrap(), f);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = MethodCall::from_xml(&bytes);
            let _ = MethodResponse::from_xml(&bytes);
        }

        #[test]
        fn mutated_documents_never_panic(
            v in arb_value(),
            cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            truncate in any::<prop::sample::Index>(),
        ) {
            let mut bytes = MethodCall::new("m", vec![v]).to_xml().into_bytes();
            for (at, byte) in cuts {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let _ = MethodCall::from_xml(&bytes);
            let end = truncate.index(bytes.len() + 1);
            let _ = MethodCall::from_xml(&bytes[..end]);
            let _ = MethodResponse::from_xml(&bytes[..end]);
        }

        #[test]
        fn junk_built_from_xml_pieces_never_panics(
            pieces in proptest::collection::vec(prop_oneof![
                Just("<value>"), Just("</value>"), Just("<struct>"), Just("</struct>"),
                Just("<member>"), Just("<name>"), Just("</name>"), Just("<array>"), Just("<data>"),
                Just("</data>"), Just("<int>"), Just("</int>"), Just("&amp;"), Just("&#0;"),
                Just("&#xFFFFFFFF;"), Just("<![CDATA["), Just("]]>"), Just("<!--"), Just("-->"),
                Just("<?xml version=\"1.0\"?>"), Just("<!DOCTYPE x>"), Just("text"), Just(" "),
                Just("<params>"), Just("<param>"), Just("<methodResponse>"), Just("<fault>"),
            ], 0..60),
        ) {
            let mut doc = String::from("<methodCall><methodName>m</methodName>");
            for p in pieces {
                doc.push_str(p);
            }
            let _ = MethodCall::from_xml(&doc);
            let _ = MethodResponse::from_xml(&doc);
        }
    }
}
