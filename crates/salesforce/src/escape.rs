//! Escaping of user data put into SOQL and SOSL text.

/// Characters SOSL reserves in a search term; each must be preceded by a backslash.
const SOSL_RESERVED: &[char] = &[
    '?', '&', '|', '!', '{', '}', '[', ']', '(', ')', '^', '~', '*', ':', '\\', '"', '\'', '+', '-',
];

/// Escapes a term for the braces of a SOSL `FIND {...}` clause.
///
/// A phone number such as `+49 (0)30 123-4` would otherwise be read as operators and a
/// grouping, or end the clause early.
pub fn escape_sosl(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 8);
    for c in term.chars() {
        if SOSL_RESERVED.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes text for use inside a single-quoted SOQL string literal (`WHERE Email = '...'`).
///
/// Uses the escape sequences SOQL defines, so a quote in the value cannot end the literal.
pub fn escape_soql_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn sosl_escapes_every_reserved_character() {
        assert_eq!(
            escape_sosl(r#"?&|!{}[]()^~*:\"'+-"#),
            r#"\?\&\|\!\{\}\[\]\(\)\^\~\*\:\\\"\'\+\-"#
        );
    }

    #[test]
    fn sosl_escapes_a_typed_phone_number_and_keeps_the_rest() {
        assert_eq!(escape_sosl("+49 (0)30 123-4"), r"\+49 \(0\)30 123\-4");
        assert_eq!(escape_sosl("Müller 030/1234"), "Müller 030/1234");
    }

    #[test]
    fn soql_literal_cannot_be_closed_by_a_quote_in_the_value() {
        let escaped = escape_soql_literal("x' OR Name != '");
        assert_eq!(escaped, r"x\' OR Name != \'");
        assert_eq!(
            format!("SELECT Id FROM Contact WHERE Email = '{escaped}'"),
            r"SELECT Id FROM Contact WHERE Email = 'x\' OR Name != \''"
        );
    }

    #[test]
    fn soql_literal_escapes_backslash_before_anything_else() {
        assert_eq!(escape_soql_literal(r"a\'b"), r"a\\\'b");
        assert_eq!(
            escape_soql_literal("line1\nline2\t\"q\"\r"),
            r#"line1\nline2\t\"q\"\r"#
        );
    }
}
