//! Error bodies exactly as Salesforce's REST API writes them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request-level REST error: `[{"message": ..., "errorCode": ..., "fields": [...]}]`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub fields: Option<Vec<String>>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            fields: None,
        }
    }

    pub(crate) fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = Some(fields);
        self
    }

    pub(crate) fn invalid_session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    pub(crate) fn limit_exceeded() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    }

    pub(crate) fn method_not_allowed(method: &str, allowed: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are {allowed}"),
        )
    }

    /// The JSON body, keys in Salesforce's order.
    pub(crate) fn body(&self) -> String {
        let message = json_string(&self.message);
        let code = json_string(&self.code);
        // NOT_FOUND and METHOD_NOT_ALLOWED come from the REST framework, which writes the
        // code first; API faults write the message first.
        let framework = matches!(self.code.as_str(), "NOT_FOUND" | "METHOD_NOT_ALLOWED")
            && self.fields.is_none();
        match (&self.fields, framework) {
            (_, true) => format!(r#"[{{"errorCode":{code},"message":{message}}}]"#),
            (None, false) => format!(r#"[{{"message":{message},"errorCode":{code}}}]"#),
            (Some(fields), false) => format!(
                r#"[{{"message":{message},"errorCode":{code},"fields":{}}}]"#,
                serde_json::to_string(fields).unwrap_or_else(|_| "[]".to_owned())
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = json_body(self.status, self.body());
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        res
    }
}

/// One error of a per-record save result, as sObject Collections report it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SaveError {
    /// Salesforce's status code, e.g. `REQUIRED_FIELD_MISSING`.
    #[serde(rename = "statusCode")]
    pub status_code: String,
    /// The message.
    pub message: String,
    /// The fields concerned.
    pub fields: Vec<String>,
}

impl SaveError {
    pub(crate) fn new(code: &str, message: impl Into<String>, fields: Vec<String>) -> Self {
        SaveError {
            status_code: code.to_owned(),
            message: message.into(),
            fields,
        }
    }

    /// The same error as a single-record request reports it.
    pub(crate) fn into_api_error(self) -> ApiError {
        let fields = self.fields;
        ApiError::bad_request(&self.status_code, self.message).with_fields(fields)
    }
}

/// An OAuth endpoint error: `{"error": ..., "error_description": ...}`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_body(
        status,
        format!(
            r#"{{"error":{},"error_description":{}}}"#,
            json_string(error),
            json_string(description)
        ),
    )
}

/// A JSON response with Salesforce's content type.
pub(crate) fn json_body(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    res
}

/// Serialises `value` as JSON with Salesforce's content type.
pub(crate) fn json_value<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => json_body(status, body),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            format!("An unexpected error occurred: {e}"),
        )
        .into_response(),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The message of a SOQL/SOSL parse or field error, with the caret excerpt Salesforce puts
/// in front: `\n<line>\n<spaces>^\nERROR at Row:R:Column:C\n<text>`.
pub(crate) fn query_error_message(
    query: &str,
    byte_pos: usize,
    column_shift: i64,
    text: &str,
) -> String {
    let pos = byte_pos.min(query.len());
    let before = query.get(..pos).unwrap_or(query);
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = query[line_start..]
        .find('\n')
        .map_or(query.len(), |i| line_start + i);
    let line = &query[line_start..line_end];
    let col0 = query[line_start..pos].chars().count();
    let column = i64::try_from(col0).unwrap_or(0) + column_shift;
    let caret_pad = usize::try_from(column - 1).unwrap_or(0);
    format!(
        "\n{line}\n{}^\nERROR at Row:{row}:Column:{column}\n{text}",
        " ".repeat(caret_pad)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_error_body_is_byte_exact() {
        assert_eq!(
            ApiError::invalid_session().body(),
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#
        );
    }

    #[test]
    fn not_found_body_puts_the_code_first() {
        assert_eq!(
            ApiError::not_found().body(),
            r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#
        );
    }

    #[test]
    fn query_error_points_at_the_column_like_salesforce() {
        let q = "SELECT Id, Dispenser__c FROM X";
        let msg = query_error_message(q, 11, 1, "No such column");
        assert_eq!(
            msg,
            "\nSELECT Id, Dispenser__c FROM X\n           ^\nERROR at Row:1:Column:12\nNo such column"
        );
    }
}
