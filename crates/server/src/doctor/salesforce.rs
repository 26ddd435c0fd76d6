//! Checks of one `[[instance]]`'s Salesforce org: login URL, token, API headroom, field access.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use ctibridge_config::{ConfigWarning, InstanceConfig};
use ctibridge_domain::{LoginUrlKind, ObjectType};
use ctibridge_salesforce::{
    ApiVersion, Credentials, ObjectDescribe, SalesforceClient, SalesforceError, TokenError,
};
use serde::Deserialize;

use super::report::{Check, CheckStatus};

/// Below this share of the daily API allowance left, the limit check warns.
pub const API_HEADROOM_WARN_PERCENT: i64 = 10;

/// What the connector reads from an object: fields it cannot do without (a hidden one makes
/// the whole query fail) and phone fields (a hidden one loses those numbers).
struct Reads {
    object: &'static str,
    /// Plain fields and relationship paths (`Owner.Name`).
    fields: Vec<String>,
    phones: &'static [&'static str],
    /// What breaks without them, for the detail text.
    used_for: &'static str,
}

/// Every field the caller card, the sync and the address-book export read: the sync's own
/// list, so that the doctor checks exactly what the connector queries.
fn reads(layout: &crate::cards::CardLayout) -> [Reads; 4] {
    let sync = |object: ObjectType| crate::sync::required_fields_for(&object, true, layout);
    [
        Reads {
            object: "Contact",
            fields: sync(ObjectType::Contact),
            phones: &[
                "Phone",
                "MobilePhone",
                "HomePhone",
                "OtherPhone",
                "AssistantPhone",
                "Fax",
            ],
            used_for: "the contact sync and the caller card",
        },
        Reads {
            object: "Lead",
            fields: sync(ObjectType::Lead),
            phones: &["Phone", "MobilePhone", "Fax"],
            used_for: "the lead sync and the caller card",
        },
        Reads {
            object: "Account",
            fields: sync(ObjectType::Account),
            phones: &["Phone", "Fax"],
            used_for: "the account sync and the caller card",
        },
        Reads {
            object: "User",
            fields: ["Id", "Name", "Email", "IsActive", "UserType"]
                .map(str::to_owned)
                .to_vec(),
            phones: &[],
            used_for: "matching users by e-mail",
        },
    ]
}

/// Task fields a call log sets (`TaskSubtype` only on create).
const TASK_FIELDS: &[&str] = &[
    "Subject",
    "Description",
    "Status",
    "ActivityDate",
    "TaskSubtype",
    "CallType",
    "CallDurationInSeconds",
    "CallObject",
    "CallDisposition",
    "WhoId",
    "WhatId",
    "OwnerId",
];

/// Objects an unknown caller can be created as, with the fields the panel's form sets.
const UNKNOWN_CALLER: [(&str, &[&str]); 2] = [
    ("Contact", &["LastName", "FirstName", "Phone"]),
    ("Lead", &["LastName", "FirstName", "Company", "Phone"]),
];

/// The query the user match runs (also what `instance.rs` reads, plus the user type, so that
/// guest and automated users are left out).
const USER_QUERY: &str =
    "SELECT Id, Name, Email FROM User WHERE IsActive = true AND UserType = 'Standard'";

/// A Salesforce user as the e-mail match needs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SfUser {
    /// Matched against the admin's manual links.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// The org's active users, as far as they could be read.
pub(crate) enum OrgUsers {
    /// Read.
    Read(Vec<SfUser>),
    /// Not asked for, because an earlier step failed (the reason).
    NotTried(&'static str),
    /// Asking failed (the error).
    Failed(String),
}

/// What checking one instance's org produced.
pub(crate) struct OrgOutcome {
    pub checks: Vec<Check>,
    pub users: OrgUsers,
}

/// Where in Setup the consumer key and secret are shown.
const CONSUMER_DETAILS_PATH: &str = "connected app: Setup > App Manager > (app) > View > Manage \
    Consumer Details; External Client App: Setup > External Client App Manager > (app) > \
    Settings > OAuth Settings > Consumer Key and Secret";

/// How to give the app a run-as user (the manual's step 3, "Admin-User wurde nicht
/// hinzugefügt").
pub const RUN_AS_FIX: &str = "Give the app a run-as user for the client credentials \
    flow.\nConnected app: Setup > App Manager > (app) > Manage > Edit Policies > Client \
    Credentials Flow > Run As.\nExternal Client App: Setup > External Client App Manager > (app) \
    > Policies > OAuth Policies > Client Credentials Flow > Run As user.\nPick the integration \
    user whose access ctibridge should have (Salesforce asks for a user with the API Only \
    permission for External Client Apps).";

pub(crate) fn group(inst: &InstanceConfig) -> String {
    format!("Salesforce: {}", inst.name)
}

/// Runs `fut` for at most `limit`.
async fn timed<T>(limit: Duration, fut: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| format!("no answer within {} s", limit.as_secs_f32()))
}

/// Checks one instance's org. `index` is the instance's position in the file (for key names).
pub(crate) async fn check_org(
    index: usize,
    inst: &InstanceConfig,
    warnings: &[ConfigWarning],
    timeout: Duration,
    layout: &crate::cards::CardLayout,
) -> OrgOutcome {
    let group = group(inst);
    let key = |k: &str| format!("instance[{index}].salesforce.{k}");
    let check = |id: &str, title: &str, status: CheckStatus, detail: String| {
        Check::new(id, group.clone(), title, status, detail).instance(&inst.name)
    };
    let mut checks = vec![login_url_check(inst, &key("login_url"), &check)];

    let creds = Credentials {
        login_url: inst.salesforce.login_url.clone(),
        client_id: inst.salesforce.client_id.clone(),
        client_secret: inst.salesforce.client_secret.clone(),
    };
    let client = match SalesforceClient::builder(creds)
        .api_version(ApiVersion::new(inst.salesforce.api_version.major()))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .request_timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            checks.push(check(
                "salesforce.client",
                "HTTP client",
                CheckStatus::Fail,
                format!("cannot set up the HTTPS client: {e}"),
            ));
            return OrgOutcome {
                checks,
                users: OrgUsers::NotTried("no HTTPS client"),
            };
        }
    };

    let token = timed(timeout, client.instance_url()).await;
    let instance_url = match token {
        Ok(Ok(url)) => {
            checks.push(check(
                "salesforce.token",
                "Token request (client credentials)",
                CheckStatus::Ok,
                format!(
                    "{} issued a token for client_id {}; the API is at {url}.",
                    inst.salesforce.login_url, inst.salesforce.client_id
                ),
            ));
            url
        }
        Ok(Err(e)) => {
            let (detail, fix) = token_failure(&e, inst, &key, warnings);
            checks.push(
                check(
                    "salesforce.token",
                    "Token request (client credentials)",
                    CheckStatus::Fail,
                    detail,
                )
                .fix(fix),
            );
            skip_rest(&mut checks, &check);
            return OrgOutcome {
                checks,
                users: OrgUsers::NotTried("needs an access token"),
            };
        }
        Err(elapsed) => {
            checks.push(
                check(
                    "salesforce.token",
                    "Token request (client credentials)",
                    CheckStatus::Fail,
                    format!(
                        "{} did not answer the token request: {elapsed}",
                        inst.salesforce.login_url.token_url()
                    ),
                )
                .fix(format!(
                    "Check that this machine reaches {} over HTTPS (firewall, proxy, DNS) and \
                     that {} is the org's My Domain.",
                    inst.salesforce.login_url,
                    key("login_url")
                )),
            );
            skip_rest(&mut checks, &check);
            return OrgOutcome {
                checks,
                users: OrgUsers::NotTried("needs an access token"),
            };
        }
    };
    tracing::debug!(instance = %inst.name, %instance_url, "doctor got a token");

    let reads = reads(layout);
    let objects: Vec<&str> = reads.iter().map(|r| r.object).chain(["Task"]).collect();
    let describes = futures::future::join_all(objects.iter().map(|o| {
        let client = &client;
        async move {
            let object = ObjectType::parse(o).unwrap_or_else(|_| ObjectType::Other((*o).into()));
            let result = timed(timeout, client.describe(&object))
                .await
                .and_then(|r| r.map_err(|e| describe_error(o, &e)));
            ((*o).to_owned(), result)
        }
    }));
    let limits = timed(timeout, client.limits());
    let users = timed(timeout, client.query_all_pages::<SfUser>(USER_QUERY));
    let (describes, limits, users) = tokio::join!(describes, limits, users);
    let describes: BTreeMap<String, Result<ObjectDescribe, String>> =
        describes.into_iter().collect();

    checks.push(limit_check(limits, &client, &check));
    for r in &reads {
        checks.push(read_check(r, &describes, &check));
    }
    checks.push(task_check(&describes, &check));
    checks.push(unknown_caller_check(&describes, &check));

    let users = match users {
        Ok(Ok(all)) => OrgUsers::Read(all.records),
        Ok(Err(e)) => OrgUsers::Failed(format!("reading the Salesforce users failed: {e}")),
        Err(elapsed) => OrgUsers::Failed(format!("reading the Salesforce users failed: {elapsed}")),
    };
    OrgOutcome { checks, users }
}

type CheckFn<'a> = dyn Fn(&str, &str, CheckStatus, String) -> Check + 'a;

fn login_url_check(inst: &InstanceConfig, key: &str, check: &CheckFn<'_>) -> Check {
    let url = &inst.salesforce.login_url;
    match url.kind() {
        LoginUrlKind::MyDomain => check(
            "salesforce.login_url",
            "Login URL",
            CheckStatus::Ok,
            format!("{url} is the org's My Domain."),
        ),
        LoginUrlKind::Loopback => check(
            "salesforce.login_url",
            "Login URL",
            CheckStatus::Info,
            format!("{url} is on this machine: a local emulator, not a Salesforce org."),
        ),
        LoginUrlKind::GenericLogin => check(
            "salesforce.login_url",
            "Login URL",
            CheckStatus::Fail,
            format!(
                "{key} is {url}, a generic login host: {}",
                url.advice()
                    .unwrap_or("it cannot issue client-credentials tokens")
            ),
        )
        .fix(format!(
            "Set {key} to the org's My Domain URL (Setup > My Domain shows it), such as \
             https://acme.my.salesforce.com."
        )),
    }
}

/// The detail and fix of a refused token request, naming the key to change.
fn token_failure(
    e: &TokenError,
    inst: &InstanceConfig,
    key: &dyn Fn(&str) -> String,
    warnings: &[ConfigWarning],
) -> (String, String) {
    let trimmed = |k: &str| {
        warnings
            .iter()
            .any(|w| matches!(w, ConfigWarning::Trimmed { key: wk, .. } if *wk == key(k)))
    };
    let login_url = &inst.salesforce.login_url;
    match e {
        TokenError::UnknownClientId => {
            let mut fix = format!(
                "Copy the app's Consumer Key into {} again ({CONSUMER_DETAILS_PATH}).",
                key("client_id")
            );
            if trimmed("client_id") {
                fix.push_str(
                    " Spaces pasted around it were removed already, so the key itself differs.",
                );
            }
            (
                format!(
                    "Salesforce does not know the consumer key in {} (invalid_client_id).",
                    key("client_id")
                ),
                fix,
            )
        }
        TokenError::WrongClientSecret => {
            let mut fix = format!(
                "Copy the app's Consumer Secret into {} (or the file client_secret_file names) \
                 again ({CONSUMER_DETAILS_PATH}); watch for spaces or line breaks copied with it.",
                key("client_secret")
            );
            if trimmed("client_secret") {
                fix.push_str(
                    " Spaces pasted around it were removed already, so the secret itself differs.",
                );
            }
            (
                format!(
                    "The consumer secret in {} does not match the consumer key {} \
                     (invalid_client: invalid client credentials).",
                    key("client_secret"),
                    inst.salesforce.client_id
                ),
                fix,
            )
        }
        TokenError::NoRunAsUser => (
            "The app has no run-as user for the client credentials flow (invalid_grant: no \
             client credentials user enabled)."
                .to_owned(),
            RUN_AS_FIX.to_owned(),
        ),
        TokenError::NotMyDomain => (
            format!(
                "{login_url} refuses client-credentials tokens (invalid_grant: request not \
                 supported on this domain)."
            ),
            format!(
                "Set {} to the org's My Domain URL (Setup > My Domain shows it), such as \
                 https://acme.my.salesforce.com.",
                key("login_url")
            ),
        ),
        TokenError::Rejected {
            status,
            error,
            description,
        } => (
            format!(
                "Salesforce refused the token request with HTTP {status}: {error} {description}"
            ),
            format!(
                "Check that the app has the Client Credentials Flow enabled and a run-as user, \
                 and that {} and {} belong to it.",
                key("client_id"),
                key("client_secret")
            ),
        ),
        TokenError::ServerError { status } => (
            format!("Salesforce's token endpoint at {login_url} failed with HTTP {status}."),
            "Try again later; if it persists, check https://status.salesforce.com for the org's \
             instance."
                .to_owned(),
        ),
        TokenError::Transport(source) => (
            format!("Cannot reach {}: {source}", login_url.token_url()),
            format!(
                "Check that this machine reaches {login_url} over HTTPS (firewall, proxy, DNS) \
                 and that {} is the org's My Domain.",
                key("login_url")
            ),
        ),
        TokenError::Decode(message) => (
            format!("{login_url} answered the token request with something unexpected: {message}"),
            format!(
                "Check that {} is the org's My Domain and not a proxy or another site.",
                key("login_url")
            ),
        ),
    }
}

/// After a failed token request every org check is marked skipped, so the report still shows
/// what was not verified.
fn skip_rest(checks: &mut Vec<Check>, check: &CheckFn<'_>) {
    let skipped = |id: &str, title: &str| {
        check(
            id,
            title,
            CheckStatus::Skipped,
            "needs an access token".to_owned(),
        )
    };
    checks.push(skipped("salesforce.api_limit", "API limit headroom"));
    for reads in &reads(&crate::cards::CardLayout::default()) {
        checks.push(skipped(
            &format!("salesforce.read.{}", reads.object),
            &format!("Read access: {}", reads.object),
        ));
    }
    checks.push(skipped(
        "salesforce.create.Task",
        "Create access: Task (call logs)",
    ));
    checks.push(skipped(
        "salesforce.create.unknown_caller",
        "Create access: Contact / Lead (unknown callers)",
    ));
}

fn describe_error(object: &str, e: &SalesforceError) -> String {
    match e {
        SalesforceError::Api { status: 404, .. } => {
            format!("the run-as user cannot see the object {object} at all")
        }
        SalesforceError::Api { status: 403, .. } => {
            format!("the run-as user may not describe {object}: {e}")
        }
        other => format!("describing {object} failed: {other}"),
    }
}

fn limit_check(
    limits: Result<Result<ctibridge_salesforce::Limits, SalesforceError>, String>,
    client: &SalesforceClient,
    check: &CheckFn<'_>,
) -> Check {
    const ID: &str = "salesforce.api_limit";
    const TITLE: &str = "API limit headroom";
    let limits = match limits {
        Ok(Ok(l)) => l,
        Ok(Err(SalesforceError::RequestLimitExceeded { limit_info, .. })) => {
            let usage = limit_info
                .map(|u| format!(" ({} of {} used)", u.used, u.limit))
                .unwrap_or_default();
            return check(
                ID,
                TITLE,
                CheckStatus::Fail,
                format!(
                    "The org's daily API request limit is spent{usage} (REQUEST_LIMIT_EXCEEDED)."
                ),
            )
            .fix(
                "Wait until Salesforce frees capacity in its rolling 24-hour window, find the \
                 app that uses it (Setup > System Overview, API Usage reports), or buy more API \
                 calls.",
            );
        }
        Ok(Err(e)) => {
            return check(
                ID,
                TITLE,
                CheckStatus::Warn,
                format!("Reading the org's limits failed: {e}"),
            )
            .fix("Give the run-as user the View Setup and Configuration permission, or ignore this if API usage is watched elsewhere.");
        }
        Err(elapsed) => {
            return check(
                ID,
                TITLE,
                CheckStatus::Warn,
                format!("Reading the org's limits failed: {elapsed}"),
            );
        }
    };
    let Some(daily) = limits.daily_api_requests() else {
        return check(
            ID,
            TITLE,
            CheckStatus::Warn,
            "The org's limits do not list DailyApiRequests.".to_owned(),
        );
    };
    let header = client
        .api_usage()
        .map(|u| format!("; the last response said api-usage={}/{}", u.used, u.limit))
        .unwrap_or_default();
    if daily.max <= 0 {
        return check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!("The org allows {} API requests a day{header}.", daily.max),
        )
        .fix("The org's edition has no API access: ctibridge needs an edition with API access (Enterprise, Unlimited, Developer) or the API add-on.");
    }
    let remaining = daily.remaining.max(0);
    let percent = remaining * 100 / daily.max;
    let detail = format!(
        "{remaining} of {} daily API requests left ({percent} %){header}.",
        daily.max
    );
    if remaining * 100 < daily.max * API_HEADROOM_WARN_PERCENT {
        check(ID, TITLE, CheckStatus::Warn, detail).fix(format!(
            "Less than {API_HEADROOM_WARN_PERCENT} % of the org's daily API requests are left: \
             find what uses them (Setup > System Overview, API Usage reports) before the limit \
             stops the sync and call logging (REQUEST_LIMIT_EXCEEDED)."
        ))
    } else {
        check(ID, TITLE, CheckStatus::Ok, detail)
    }
}

/// The fix for a field the run-as user cannot see.
fn fls_fix(access: &str, fields: &[String]) -> String {
    let mut fix = format!(
        "Grant field-level {access} access to the run-as user's profile or to a permission set \
         assigned to it:"
    );
    for f in fields {
        let (object, field) = f.split_once('.').unwrap_or((f.as_str(), ""));
        fix.push_str(&format!(
            "\n{f}: Setup > Object Manager > {object} > Fields & Relationships > {field} > Set \
             Field-Level Security"
        ));
    }
    fix
}

/// `Owner.Name` on Contact: the local reference field (`OwnerId`) and the field behind it.
fn relationship(path: &str) -> Option<(String, &str)> {
    let (rel, field) = path.split_once('.')?;
    let local = match rel.strip_suffix("__r") {
        Some(custom) => format!("{custom}__c"),
        None => format!("{rel}Id"),
    };
    Some((local, field))
}

fn read_check(
    reads: &Reads,
    describes: &BTreeMap<String, Result<ObjectDescribe, String>>,
    check: &CheckFn<'_>,
) -> Check {
    let id = format!("salesforce.read.{}", reads.object);
    let title = format!("Read access: {}", reads.object);
    let describe = match describes.get(reads.object) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            return check(&id, &title, CheckStatus::Fail, format!("{e}.")).fix(format!(
                "Give the run-as user's profile or a permission set Read access to {} \
                 (Setup > Profiles or Permission Sets > Object Settings > {}).",
                reads.object, reads.object
            ));
        }
        None => {
            return check(
                &id,
                &title,
                CheckStatus::Skipped,
                "not described".to_owned(),
            );
        }
    };
    let mut missing = Vec::new();
    for path in &reads.fields {
        match relationship(path) {
            None => {
                if describe.field(path).is_none() {
                    missing.push(format!("{}.{path}", reads.object));
                }
            }
            Some((local, target_field)) => {
                let Some(reference) = describe.field(&local) else {
                    missing.push(format!("{}.{local}", reads.object));
                    continue;
                };
                // Owner points at User or Group; the card reads the user.
                let target = reference
                    .reference_to
                    .iter()
                    .find(|t| t.as_str() == "User")
                    .or_else(|| reference.reference_to.first());
                if let Some(Ok(target_describe)) = target.and_then(|t| describes.get(t.as_str()))
                    && target_describe.field(target_field).is_none()
                {
                    missing.push(format!("{}.{target_field}", target_describe.name));
                }
            }
        }
    }
    missing.dedup();
    let hidden_phones: Vec<String> = reads
        .phones
        .iter()
        .filter(|p| describe.field(p).is_none())
        .map(|p| format!("{}.{p}", reads.object))
        .collect();
    let phone_count = describe.phone_fields().count();
    if !missing.is_empty() {
        let mut detail = format!(
            "The run-as user cannot read {} (needed for {}); Salesforce refuses every query that \
             names a hidden field (INVALID_FIELD, the manual's \"400 BAD REQUEST\" during sync).",
            missing.join(", "),
            reads.used_for
        );
        if !hidden_phones.is_empty() {
            detail.push_str(&format!(
                "\nAlso hidden, so their numbers are not recognised: {}.",
                hidden_phones.join(", ")
            ));
        }
        let mut all = missing;
        all.extend(hidden_phones);
        return check(&id, &title, CheckStatus::Fail, detail).fix(fls_fix("read", &all));
    }
    if !hidden_phones.is_empty() {
        return check(
            &id,
            &title,
            CheckStatus::Warn,
            format!(
                "The run-as user cannot read the phone field{} {}: callers with a number only \
                 there are not recognised.",
                if hidden_phones.len() == 1 { "" } else { "s" },
                hidden_phones.join(", ")
            ),
        )
        .fix(fls_fix("read", &hidden_phones));
    }
    let phones = if reads.phones.is_empty() {
        String::new()
    } else {
        format!(" and {phone_count} phone fields")
    };
    check(
        &id,
        &title,
        CheckStatus::Ok,
        format!(
            "All {} fields{phones} needed for {} are visible.",
            reads.fields.len(),
            reads.used_for
        ),
    )
}

/// Fields of `describe` among `wanted` that the run-as user cannot set on create.
fn not_createable(describe: &ObjectDescribe, wanted: &[&str]) -> Vec<String> {
    wanted
        .iter()
        .filter(|f| !describe.field(f).is_some_and(|d| d.createable))
        .map(|f| format!("{}.{f}", describe.name))
        .collect()
}

fn task_check(
    describes: &BTreeMap<String, Result<ObjectDescribe, String>>,
    check: &CheckFn<'_>,
) -> Check {
    const ID: &str = "salesforce.create.Task";
    const TITLE: &str = "Create access: Task (call logs)";
    let describe = match describes.get("Task") {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            return check(ID, TITLE, CheckStatus::Fail, format!("{e}.")).fix(
                "Give the run-as user's profile or a permission set Read and Create access to \
                 Task (Object Settings > Tasks), and enable Activities for it.",
            );
        }
        None => return check(ID, TITLE, CheckStatus::Skipped, "not described".to_owned()),
    };
    if !describe.createable {
        return check(
            ID,
            TITLE,
            CheckStatus::Fail,
            "The run-as user may not create Tasks, so no call is logged.".to_owned(),
        )
        .fix(
            "Give the run-as user's profile or a permission set Create access to Task (the \
             profile's \"Edit Tasks\" permission).",
        );
    }
    let missing = not_createable(describe, TASK_FIELDS);
    if !missing.is_empty() {
        return check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!(
                "The run-as user may create Tasks but not set {}: call logs fail \
                 (INVALID_FIELD_FOR_INSERT_UPDATE).",
                missing.join(", ")
            ),
        )
        .fix(fls_fix("edit", &missing));
    }
    check(
        ID,
        TITLE,
        CheckStatus::Ok,
        format!(
            "Tasks can be created with all {} call-log fields.",
            TASK_FIELDS.len()
        ),
    )
}

fn unknown_caller_check(
    describes: &BTreeMap<String, Result<ObjectDescribe, String>>,
    check: &CheckFn<'_>,
) -> Check {
    const ID: &str = "salesforce.create.unknown_caller";
    const TITLE: &str = "Create access: Contact / Lead (unknown callers)";
    let mut usable = Vec::new();
    let mut problems = Vec::new();
    let mut fields_to_grant = Vec::new();
    for (object, fields) in UNKNOWN_CALLER {
        match describes.get(object) {
            Some(Ok(d)) if !d.createable => {
                problems.push(format!("the run-as user may not create {object}s"));
            }
            Some(Ok(d)) => {
                let missing = not_createable(d, fields);
                if missing.is_empty() {
                    usable.push(object);
                } else {
                    problems.push(format!(
                        "{object}s can be created but not with {}",
                        missing.join(", ")
                    ));
                    fields_to_grant.extend(missing);
                }
            }
            Some(Err(e)) => problems.push(e.clone()),
            None => problems.push(format!("{object} was not described")),
        }
    }
    let fix = || {
        let mut fix = "Give the run-as user's profile or a permission set Create access to \
                       Contact and Lead."
            .to_owned();
        if !fields_to_grant.is_empty() {
            fix.push('\n');
            fix.push_str(&fls_fix("edit", &fields_to_grant));
        }
        fix
    };
    match usable.as_slice() {
        [] => check(
            ID,
            TITLE,
            CheckStatus::Fail,
            format!(
                "An unknown caller cannot be saved as a new record: {}.",
                problems.join("; ")
            ),
        )
        .fix(fix()),
        [only] if !problems.is_empty() => check(
            ID,
            TITLE,
            CheckStatus::Warn,
            format!(
                "Unknown callers can be saved as {only}s only: {}.",
                problems.join("; ")
            ),
        )
        .fix(fix()),
        _ => check(
            ID,
            TITLE,
            CheckStatus::Ok,
            "Unknown callers can be saved as new Contacts and Leads.".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_paths_name_their_reference_field() {
        assert_eq!(
            relationship("Owner.Name"),
            Some(("OwnerId".to_owned(), "Name"))
        );
        assert_eq!(
            relationship("Partner__r.Phone"),
            Some(("Partner__c".to_owned(), "Phone"))
        );
        assert_eq!(relationship("Name"), None);
    }

    #[test]
    fn fls_fix_names_the_setup_path_of_each_field() {
        let fix = fls_fix("read", &["Contact.OwnerId".to_owned()]);
        assert!(fix.contains("field-level read access"), "{fix}");
        assert!(
            fix.contains(
                "Contact.OwnerId: Setup > Object Manager > Contact > Fields & Relationships > \
                 OwnerId > Set Field-Level Security"
            ),
            "{fix}"
        );
    }
}
