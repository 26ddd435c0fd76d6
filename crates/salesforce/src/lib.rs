//! Salesforce REST client of ctibridge.
//!
//! One [`SalesforceClient`] per org: it gets a token with the client-credentials flow, renews
//! it on 401 (one token request however many calls saw the 401), and speaks the parts of the
//! REST API the connector needs: SOQL with paging, SOSL, describe, sObject CRUD,
//! `composite/sobjects`, `updated`/`deleted` and `limits`. Every response's
//! `Sforce-Limit-Info` is kept ([`SalesforceClient::api_usage`]). Errors name the admin's fix
//! where Salesforce's answer allows it. The panel user's own login (web-server flow with PKCE,
//! `userinfo`) lives in [`web_login`].

mod auth;
mod client;
mod error;
mod escape;
mod types;
mod usage;
pub mod web_login;

pub use auth::Credentials;
pub use client::{
    BuildError, COMPOSITE_BATCH, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    SalesforceClient, SalesforceClientBuilder, USER_AGENT, composite_record,
};
pub use error::{ApiError, SalesforceError, TokenError};
pub use escape::{escape_soql_literal, escape_sosl};
pub use types::{
    AllRecords, ApiVersion, CompositeResult, DeletedRecord, DeletedRecords, FieldDescribe,
    InvalidApiVersion, Limit, Limits, ObjectDescribe, PicklistValue, QueryPage, UpdatedRecords,
};
pub use usage::{ApiUsage, LIMIT_INFO_HEADER};
pub use web_login::{UserInfo, UserToken, pkce_challenge, pkce_pair};
