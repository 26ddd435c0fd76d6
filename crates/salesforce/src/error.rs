//! Errors of the Salesforce client, parsed from the bodies Salesforce sends.

use serde::{Deserialize, Serialize};

use crate::usage::ApiUsage;

/// Longest piece of a non-JSON error body kept in an error, so an HTML error page cannot flood a log.
const MAX_BODY_EXCERPT: usize = 300;

/// One entry of a Salesforce REST error body or of a per-record result.
///
/// REST errors spell the code `errorCode`, per-record results (create, composite) `statusCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Human-readable text from Salesforce.
    #[serde(default)]
    pub message: String,
    /// Machine-readable code such as `INVALID_FIELD` or `REQUIRED_FIELD_MISSING`.
    #[serde(rename = "errorCode", alias = "statusCode", default)]
    pub error_code: String,
    /// Fields the error is about, when Salesforce names them.
    #[serde(default)]
    pub fields: Vec<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_code, last_line(&self.message))?;
        if !self.fields.is_empty() {
            write!(f, " (fields: {})", self.fields.join(", "))?;
        }
        Ok(())
    }
}

/// What went wrong talking to the Salesforce REST API.
#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    /// No access token could be had; the variant names the admin's fix.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// HTTP 401 even with a token fetched just before the retry (or a user's token refused).
    #[error("Salesforce rejected the access token ({error_code}): {message}")]
    Unauthorized {
        /// Usually `INVALID_SESSION_ID`.
        error_code: String,
        /// Salesforce's text.
        message: String,
    },
    /// HTTP 403 `REQUEST_LIMIT_EXCEEDED`: the org's daily API allowance is spent.
    #[error(
        "the org's daily API request limit is spent{}: pause until Salesforce frees capacity in its rolling 24-hour window ({message})",
        .limit_info.map(|u| format!(" (api-usage {u})")).unwrap_or_default()
    )]
    RequestLimitExceeded {
        /// Usage from the response's `Sforce-Limit-Info` header, when it carried one.
        limit_info: Option<ApiUsage>,
        /// Salesforce's text.
        message: String,
    },
    /// A field the request names is unknown to the run-as user: misspelt, or hidden by field-level security.
    #[error("{}", invalid_field_text(.object.as_deref(), .field.as_deref(), .error_code, .message))]
    InvalidField {
        /// The sObject, when Salesforce's message or the request named it.
        object: Option<String>,
        /// The field, when Salesforce's message or error entry named it.
        field: Option<String>,
        /// `INVALID_FIELD` (read) or `INVALID_FIELD_FOR_INSERT_UPDATE` (write).
        error_code: String,
        /// Salesforce's text.
        message: String,
    },
    /// Any other error response with Salesforce's error entries.
    #[error("Salesforce answered HTTP {status}: {}", join_errors(.errors))]
    Api {
        /// HTTP status.
        status: u16,
        /// The entries of the error body.
        errors: Vec<ApiError>,
    },
    /// The request did not get an answer: connection refused, TLS, timeout.
    #[error("could not reach Salesforce: {0}")]
    Transport(#[source] reqwest::Error),
    /// HTTP 5xx from Salesforce.
    #[error("Salesforce failed with HTTP {status}: {message}")]
    ServerError {
        /// HTTP status (500..=599).
        status: u16,
        /// Salesforce's text, shortened.
        message: String,
    },
    /// A success response whose body was not what the API documents.
    #[error("unexpected response from Salesforce to {what}: {message}")]
    Decode {
        /// The operation whose answer failed to parse.
        what: String,
        /// The parser's complaint.
        message: String,
    },
    /// The caller passed something that cannot be sent (an object name with a slash, a foreign next-page URL).
    #[error("refusing to send request: {0}")]
    InvalidInput(String),
}

impl SalesforceError {
    /// Whether Salesforce may have carried out the request although no answer says so: the
    /// connection broke or timed out after the request was sent, or a server or gateway failed
    /// on the way back (500, 502, 504). Not for a refused connection, a 503 (Salesforce
    /// unavailable: the request was not taken) or a 4xx answer (refused: nothing written).
    pub fn may_have_been_carried_out(&self) -> bool {
        match self {
            Self::Transport(e) => !e.is_connect() && !e.is_builder(),
            Self::ServerError { status, .. } => matches!(status, 500 | 502 | 504),
            _ => false,
        }
    }

    /// Whether the same request may succeed later without anyone changing configuration.
    ///
    /// A 401 that survived one re-authentication counts as retryable: the credentials just
    /// produced a token, so the usual cause is a session that ended between the two calls.
    /// `REQUEST_LIMIT_EXCEEDED` is not: callers must pause until the limit frees up, not spin.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Token(e) => e.is_retryable(),
            Self::Unauthorized { .. } | Self::Transport(_) | Self::ServerError { .. } => true,
            Self::Api { status, errors } => {
                matches!(status, 408 | 429)
                    || errors.iter().any(|e| e.error_code == "UNABLE_TO_LOCK_ROW")
            }
            Self::RequestLimitExceeded { .. }
            | Self::InvalidField { .. }
            | Self::Decode { .. }
            | Self::InvalidInput(_) => false,
        }
    }

    pub(crate) fn decode(what: &str, err: impl std::fmt::Display) -> Self {
        Self::Decode {
            what: what.to_owned(),
            message: err.to_string(),
        }
    }

    /// Maps a non-success response to an error; `object` is the sObject the request was about, if one.
    pub(crate) fn from_response(
        status: u16,
        body: &[u8],
        usage: Option<ApiUsage>,
        object: Option<&str>,
    ) -> Self {
        let errors = parse_error_body(body);
        let first = errors.first().cloned().unwrap_or_else(|| ApiError {
            message: String::new(),
            error_code: String::new(),
            fields: Vec::new(),
        });
        if status == 401 {
            return Self::Unauthorized {
                error_code: first.error_code,
                message: first.message,
            };
        }
        if let Some(limit) = errors
            .iter()
            .find(|e| e.error_code == "REQUEST_LIMIT_EXCEEDED")
        {
            return Self::RequestLimitExceeded {
                limit_info: usage,
                message: limit.message.clone(),
            };
        }
        if let Some(invalid) = errors.iter().find(|e| {
            e.error_code == "INVALID_FIELD" || e.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
        }) {
            let (named_object, named_field) = parse_invalid_field(&invalid.message);
            return Self::InvalidField {
                object: named_object.or_else(|| object.map(str::to_owned)),
                field: named_field.or_else(|| invalid.fields.first().cloned()),
                error_code: invalid.error_code.clone(),
                message: invalid.message.clone(),
            };
        }
        if (500..=599).contains(&status) {
            return Self::ServerError {
                status,
                message: join_errors(&errors),
            };
        }
        Self::Api { status, errors }
    }
}

/// Why no access token could be had, phrased as the admin's fix.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `invalid_client_id`: the consumer key is unknown.
    #[error(
        "Salesforce does not know this consumer key (invalid_client_id): copy the Consumer Key of the connected app or External Client App into client_id again"
    )]
    UnknownClientId,
    /// `invalid_client`: the consumer secret does not match the key.
    #[error(
        "the consumer secret does not match the consumer key (invalid_client): copy the Consumer Secret into client_secret again and check it for spaces or line breaks pasted with it"
    )]
    WrongClientSecret,
    /// `invalid_grant` "no client credentials user enabled": the app has no run-as user.
    #[error(
        "the app has no run-as user for the client credentials flow (invalid_grant: no client credentials user enabled): in Setup open App Manager (connected app: Manage > Edit Policies) or the External Client App's Policies, enable Client Credentials Flow and set Run As to the integration user"
    )]
    NoRunAsUser,
    /// `invalid_grant` "request not supported on this domain": asked a generic login host.
    #[error(
        "the token was requested from a generic login host (invalid_grant: request not supported on this domain): set login_url to the org's My Domain URL, e.g. https://acme.my.salesforce.com, not login.salesforce.com"
    )]
    NotMyDomain,
    /// Any other refusal of the token endpoint.
    #[error("Salesforce refused the token request with HTTP {status} ({error}: {description})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// OAuth `error` code.
        error: String,
        /// OAuth `error_description`.
        description: String,
    },
    /// HTTP 5xx from the token endpoint.
    #[error("Salesforce's token endpoint failed with HTTP {status}")]
    ServerError {
        /// HTTP status (500..=599).
        status: u16,
    },
    /// The token endpoint did not answer: connection refused, TLS, timeout.
    #[error("could not reach Salesforce's token endpoint: {0}")]
    Transport(#[source] reqwest::Error),
    /// A token response without the fields the flow documents.
    #[error("unexpected answer from Salesforce's token endpoint: {0}")]
    Decode(String),
}

impl TokenError {
    /// Whether asking again later may succeed without a configuration change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::ServerError { .. } | Self::Transport(_))
    }

    /// Maps a refused token request to the error that names the fix.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> Self {
        if (500..=599).contains(&status) {
            return Self::ServerError { status };
        }
        #[derive(Deserialize)]
        struct OAuthError {
            #[serde(default)]
            error: String,
            #[serde(default)]
            error_description: String,
        }
        let parsed: OAuthError = serde_json::from_slice(body).unwrap_or_else(|_| OAuthError {
            error: String::new(),
            error_description: excerpt(body),
        });
        let description = parsed.error_description.to_ascii_lowercase();
        match parsed.error.as_str() {
            "invalid_client_id" => Self::UnknownClientId,
            "invalid_client" => Self::WrongClientSecret,
            "invalid_grant" if description.contains("no client credentials user enabled") => {
                Self::NoRunAsUser
            }
            "invalid_grant" if description.contains("not supported on this domain") => {
                Self::NotMyDomain
            }
            _ => Self::Rejected {
                status,
                error: parsed.error,
                description: parsed.error_description,
            },
        }
    }
}

/// Reads the error entries of a body: Salesforce sends an array, sometimes one object, and
/// proxies in between send HTML or nothing.
pub(crate) fn parse_error_body(body: &[u8]) -> Vec<ApiError> {
    if let Ok(errors) = serde_json::from_slice::<Vec<ApiError>>(body) {
        return errors;
    }
    if let Ok(error) = serde_json::from_slice::<ApiError>(body)
        && !(error.message.is_empty() && error.error_code.is_empty())
    {
        return vec![error];
    }
    let text = excerpt(body);
    if text.is_empty() {
        return Vec::new();
    }
    vec![ApiError {
        message: text,
        error_code: String::new(),
        fields: Vec::new(),
    }]
}

/// Finds object and field in `No such column 'F' on entity 'O'` (SOQL),
/// `No such column 'F' on sobject of type O` (writes) and `Didn't understand relationship 'F'`.
pub(crate) fn parse_invalid_field(message: &str) -> (Option<String>, Option<String>) {
    let quoted_after = |text: &str, marker: &str| -> Option<String> {
        let start = text.find(marker)? + marker.len();
        let rest = &text[start..];
        let end = rest.find('\'')?;
        Some(rest[..end].to_owned()).filter(|s| !s.is_empty())
    };
    if let Some(field) = quoted_after(message, "No such column '") {
        let object = quoted_after(message, "on entity '").or_else(|| {
            let start = message.find("on sobject of type ")? + "on sobject of type ".len();
            let name: String = message[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            Some(name).filter(|s| !s.is_empty())
        });
        return (object, Some(field));
    }
    (
        None,
        quoted_after(message, "Didn't understand relationship '"),
    )
}

fn invalid_field_text(
    object: Option<&str>,
    field: Option<&str>,
    error_code: &str,
    message: &str,
) -> String {
    let target = match (object, field) {
        (Some(o), Some(f)) => format!("field {o}.{f}"),
        (None, Some(f)) => format!("field {f}"),
        (Some(o), None) => format!("a field of {o}"),
        (None, None) => "a field".to_owned(),
    };
    let setup = match (object, field) {
        (Some(o), Some(f)) => {
            format!(
                " (Setup > Object Manager > {o} > Fields & Relationships > {f} > Set Field-Level Security)"
            )
        }
        _ => String::new(),
    };
    let access = if error_code == "INVALID_FIELD_FOR_INSERT_UPDATE" {
        "edit"
    } else {
        "read"
    };
    format!(
        "Salesforce does not let the run-as user use {target} ({error_code}): give the run-as user's profile or a permission set {access} access to it{setup}, or fix the field name. Salesforce said: {}",
        last_line(message)
    )
}

fn join_errors(errors: &[ApiError]) -> String {
    if errors.is_empty() {
        return "(no error details)".to_owned();
    }
    errors
        .iter()
        .map(ApiError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// SOQL errors echo the query with a caret line before the sentence that matters.
fn last_line(message: &str) -> &str {
    message
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_BODY_EXCERPT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const SOQL_FLS_BODY: &str = r#"[{"message":"\nSELECT Id, OwnerId FROM Contact\n           ^\nERROR at Row:1:Column:12\nNo such column 'OwnerId' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.","errorCode":"INVALID_FIELD"}]"#;

    #[test]
    fn expired_session_is_unauthorized() {
        let body =
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        let err = SalesforceError::from_response(401, body, None, None);
        assert!(
            matches!(&err, SalesforceError::Unauthorized { error_code, .. } if error_code == "INVALID_SESSION_ID"),
            "{err:?}"
        );
    }

    #[test]
    fn limit_exceeded_keeps_the_usage_header_and_is_not_retryable() {
        let body = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let usage = ApiUsage {
            used: 5001,
            limit: 5000,
        };
        let err = SalesforceError::from_response(403, body, Some(usage), None);
        match &err {
            SalesforceError::RequestLimitExceeded {
                limit_info,
                message,
            } => {
                assert_eq!(*limit_info, Some(usage));
                assert_eq!(message, "TotalRequests Limit exceeded.");
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("api-usage 5001/5000"));
    }

    #[test]
    fn soql_fls_error_names_object_and_field() {
        let err = SalesforceError::from_response(400, SOQL_FLS_BODY.as_bytes(), None, None);
        match &err {
            SalesforceError::InvalidField { object, field, .. } => {
                assert_eq!(object.as_deref(), Some("Contact"));
                assert_eq!(field.as_deref(), Some("OwnerId"));
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("Contact.OwnerId"), "{text}");
        assert!(text.contains("Set Field-Level Security"), "{text}");
        assert!(!text.contains("ERROR at Row"), "{text}");
    }

    #[test]
    fn write_fls_error_takes_field_from_entry_and_object_from_request() {
        let body = br#"[{"message":"Unable to create/update fields: Secret__c. Please check the security settings of this field and verify that it is read/write for your profile or permission set.","errorCode":"INVALID_FIELD_FOR_INSERT_UPDATE","fields":["Secret__c"]}]"#;
        let err = SalesforceError::from_response(400, body, None, Some("Lead"));
        match &err {
            SalesforceError::InvalidField {
                object,
                field,
                error_code,
                ..
            } => {
                assert_eq!(object.as_deref(), Some("Lead"));
                assert_eq!(field.as_deref(), Some("Secret__c"));
                assert_eq!(error_code, "INVALID_FIELD_FOR_INSERT_UPDATE");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("edit access"));
    }

    #[test]
    fn invalid_field_message_variants_are_parsed() {
        assert_eq!(
            parse_invalid_field("No such column 'Foo__c' on sobject of type Contact"),
            (Some("Contact".into()), Some("Foo__c".into()))
        );
        assert_eq!(
            parse_invalid_field("Didn't understand relationship 'Owner' in field path."),
            (None, Some("Owner".into()))
        );
        assert_eq!(parse_invalid_field("something else"), (None, None));
    }

    #[test]
    fn server_errors_are_retryable_and_keep_a_short_message() {
        let html = format!("<html>{}</html>", "x".repeat(1000));
        let err = SalesforceError::from_response(503, html.as_bytes(), None, None);
        match &err {
            SalesforceError::ServerError { status, message } => {
                assert_eq!(*status, 503);
                assert!(message.len() < 400, "{}", message.len());
            }
            other => panic!("{other:?}"),
        }
        assert!(err.is_retryable());
    }

    #[test]
    fn other_errors_keep_every_entry_with_its_fields() {
        let body = br#"[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]},{"message":"bad","errorCode":"OTHER"}]"#;
        let err = SalesforceError::from_response(400, body, None, None);
        match &err {
            SalesforceError::Api { status, errors } => {
                assert_eq!(*status, 400);
                assert_eq!(errors.len(), 2);
                assert_eq!(errors[0].error_code, "REQUIRED_FIELD_MISSING");
                assert_eq!(errors[0].fields, vec!["LastName".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.is_retryable());
    }

    #[test]
    fn row_lock_contention_is_retryable() {
        let body = br#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW"}]"#;
        assert!(SalesforceError::from_response(400, body, None, None).is_retryable());
    }

    #[test]
    fn per_record_errors_read_status_code_as_error_code() {
        let e: ApiError = serde_json::from_str(
            r#"{"statusCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"no","fields":[]}"#,
        )
        .unwrap();
        assert_eq!(e.error_code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    }

    #[test]
    fn single_object_and_empty_bodies_are_understood() {
        let one = parse_error_body(br#"{"message":"m","errorCode":"C"}"#);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].error_code, "C");
        assert!(parse_error_body(b"").is_empty());
    }

    #[test]
    fn token_errors_name_the_admins_fix() {
        let cases: [(&[u8], &str); 4] = [
            (
                br#"{"error":"invalid_client_id","error_description":"client identifier invalid"}"#,
                "Consumer Key",
            ),
            (
                br#"{"error":"invalid_client","error_description":"invalid client credentials"}"#,
                "spaces or line breaks",
            ),
            (
                br#"{"error":"invalid_grant","error_description":"no client credentials user enabled"}"#,
                "Run As",
            ),
            (
                br#"{"error":"invalid_grant","error_description":"request not supported on this domain"}"#,
                "My Domain",
            ),
        ];
        for (body, fix) in cases {
            let err = TokenError::from_response(400, body);
            assert!(err.to_string().contains(fix), "{err}");
            assert!(!err.is_retryable());
        }
        assert!(matches!(
            TokenError::from_response(
                400,
                br#"{"error":"invalid_grant","error_description":"no client credentials user enabled"}"#
            ),
            TokenError::NoRunAsUser
        ));
    }

    #[test]
    fn unknown_token_errors_keep_code_and_description() {
        let err = TokenError::from_response(
            400,
            br#"{"error":"unsupported_grant_type","error_description":"grant type not supported"}"#,
        );
        assert!(
            matches!(&err, TokenError::Rejected { error, description, .. } if error == "unsupported_grant_type" && description == "grant type not supported")
        );
        assert!(TokenError::from_response(502, b"<html>").is_retryable());
    }

    /// Real transport errors on loopback: a refused connection (nothing sent) and a request
    /// that got no answer in time (sent; the server may have done it).
    #[tokio::test]
    async fn only_a_request_that_may_have_arrived_may_have_been_carried_out() {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap();
        // A port nobody listens on: bind, note the port, close.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = client
            .post(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(!SalesforceError::Transport(refused).may_have_been_carried_out());
        // A server that takes the request and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let holder = tokio::spawn(async move {
            let (conn, _) = silent.accept().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            drop(conn);
        });
        let unanswered = client
            .post(format!("http://{addr}/"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        assert!(unanswered.is_timeout(), "{unanswered:?}");
        assert!(SalesforceError::Transport(unanswered).may_have_been_carried_out());
        holder.abort();

        let server = |status| SalesforceError::ServerError {
            status,
            message: String::new(),
        };
        assert!(server(500).may_have_been_carried_out());
        assert!(server(504).may_have_been_carried_out());
        assert!(!server(503).may_have_been_carried_out());
        let refused_by_org = SalesforceError::Api {
            status: 400,
            errors: Vec::new(),
        };
        assert!(!refused_by_org.may_have_been_carried_out());
    }
}
