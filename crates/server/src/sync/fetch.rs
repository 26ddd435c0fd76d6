//! Salesforce calls as the sync makes them: each retried with backoff while Salesforce is
//! unreachable or failing (5xx, timeouts), counted, and its error sorted into what the admin
//! must do (field access), what must pause the sync (the daily limit) and what just failed.

use std::future::Future;
use std::time::Duration;

use ctibridge_domain::ObjectType;
use ctibridge_salesforce::{QueryPage, SalesforceClient, SalesforceError};
use serde_json::{Map, Value};
use tracing::{debug, warn};

use super::{SyncError, SyncTuning};

/// A query row.
pub(crate) type Row = Map<String, Value>;

/// The calls of one sync run against one org, and how many reached it.
pub(crate) struct Api<'a> {
    pub client: &'a SalesforceClient,
    tuning: &'a SyncTuning,
    /// Requests Salesforce answered and counts against the daily limit.
    pub calls: u64,
}

impl<'a> Api<'a> {
    pub fn new(client: &'a SalesforceClient, tuning: &'a SyncTuning) -> Self {
        Self {
            client,
            tuning,
            calls: 0,
        }
    }

    /// Runs `call` until it succeeds, fails for good, or the attempts are spent. `object`
    /// names the sObject in a field error that does not name it itself; `paths` are the query
    /// paths, to name the field behind a relationship Salesforce refused.
    pub async fn call<T, F, Fut>(
        &mut self,
        what: &str,
        object: Option<&ObjectType>,
        paths: &[String],
        mut call: F,
    ) -> Result<T, SyncError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SalesforceError>>,
    {
        let mut attempt = 1;
        let mut delay = self.tuning.retry_base;
        loop {
            match call().await {
                Ok(v) => {
                    self.calls += 1;
                    return Ok(v);
                }
                Err(e) => {
                    if counted(&e) {
                        self.calls += 1;
                    }
                    if e.is_retryable() && attempt < self.tuning.retry_attempts {
                        debug!(what, attempt, error = %e, retry_in = ?delay, "Salesforce call failed; retrying");
                        tokio::time::sleep(jitter(delay)).await;
                        delay = (delay * 2).min(self.tuning.retry_max);
                        attempt += 1;
                        continue;
                    }
                    if e.is_retryable() {
                        warn!(what, attempts = attempt, error = %e, "Salesforce call failed after retries");
                    }
                    return Err(classify(e, object, paths));
                }
            }
        }
    }

    /// The next batch of a query, following `nextRecordsUrl`; `None` after the last.
    pub async fn next_page(
        &mut self,
        pager: &mut Pager,
    ) -> Result<Option<QueryPage<Row>>, SyncError> {
        let client = self.client;
        let page = match &pager.next {
            Next::First => {
                let soql = pager.soql.clone();
                self.call("query", Some(&pager.object), &pager.paths, || {
                    client.query::<Row>(&soql)
                })
                .await?
            }
            Next::More(url) => {
                let url = url.clone();
                self.call(
                    "query (next batch)",
                    Some(&pager.object),
                    &pager.paths,
                    || client.query_more::<Row>(&url),
                )
                .await?
            }
            Next::Done => return Ok(None),
        };
        pager.next = match (page.done, &page.next_records_url) {
            (true, _) => Next::Done,
            (false, Some(url)) => Next::More(url.clone()),
            (false, None) => {
                return Err(SyncError::Salesforce(SalesforceError::Decode {
                    what: "query".to_owned(),
                    message: "batch says more follow (done=false) but has no nextRecordsUrl"
                        .to_owned(),
                }));
            }
        };
        Ok(Some(page))
    }
}

enum Next {
    First,
    More(String),
    Done,
}

/// Where a paged query stands, so that a failed batch can be asked for again.
pub(crate) struct Pager {
    soql: String,
    object: ObjectType,
    paths: Vec<String>,
    next: Next,
}

impl Pager {
    pub fn new(object: &ObjectType, soql: String, paths: &[String]) -> Self {
        Self {
            soql,
            object: object.clone(),
            paths: paths.to_vec(),
            next: Next::First,
        }
    }
}

/// Whether Salesforce answered the request (and so counted it against the daily limit).
fn counted(e: &SalesforceError) -> bool {
    matches!(
        e,
        SalesforceError::InvalidField { .. }
            | SalesforceError::Api { .. }
            | SalesforceError::Decode { .. }
    )
}

/// Up to a quarter more, so that several instances that failed together do not retry together.
fn jitter(delay: Duration) -> Duration {
    use rand::Rng as _;
    let extra = rand::rng().random_range(0..=delay.as_millis() as u64 / 4);
    delay + Duration::from_millis(extra)
}

fn classify(e: SalesforceError, object: Option<&ObjectType>, paths: &[String]) -> SyncError {
    match e {
        SalesforceError::RequestLimitExceeded {
            limit_info,
            message,
        } => SyncError::LimitExceeded {
            usage: limit_info,
            message,
        },
        SalesforceError::InvalidField {
            object: named,
            field,
            error_code,
            message,
        } => {
            let object = named.or_else(|| object.map(|o| o.as_str().to_owned()));
            // "Didn't understand relationship 'Owner'": the admin grants access to OwnerId.
            let field = field.map(|f| {
                paths
                    .iter()
                    .find(|p| {
                        p.split_once('.')
                            .is_some_and(|(rel, _)| rel.eq_ignore_ascii_case(&f))
                    })
                    .map_or(f, |p| super::fields::field_behind(p))
            });
            let described = SalesforceError::InvalidField {
                object: object.clone(),
                field: field.clone(),
                error_code,
                message,
            };
            SyncError::FieldHidden {
                object: object.unwrap_or_default(),
                field: field.unwrap_or_default(),
                message: described.to_string(),
            }
        }
        other => SyncError::Salesforce(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_relationship_names_the_reference_field_the_admin_must_open() {
        let e = SalesforceError::InvalidField {
            object: None,
            field: Some("Owner".to_owned()),
            error_code: "INVALID_FIELD".to_owned(),
            message: "Didn't understand relationship 'Owner' in field path.".to_owned(),
        };
        let paths = vec!["Id".to_owned(), "Owner.Name".to_owned()];
        let SyncError::FieldHidden {
            object,
            field,
            message,
        } = classify(e, Some(&ObjectType::Contact), &paths)
        else {
            panic!("not a hidden field");
        };
        assert_eq!((object.as_str(), field.as_str()), ("Contact", "OwnerId"));
        assert!(message.contains("Contact.OwnerId"), "{message}");
        assert!(message.contains("Set Field-Level Security"), "{message}");
    }

    #[test]
    fn spent_limit_is_a_pause_not_a_failure() {
        let e = SalesforceError::RequestLimitExceeded {
            limit_info: None,
            message: "TotalRequests Limit exceeded.".to_owned(),
        };
        assert!(matches!(
            classify(e, None, &[]),
            SyncError::LimitExceeded { .. }
        ));
    }
}
