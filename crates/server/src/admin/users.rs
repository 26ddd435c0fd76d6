//! Manual user links on the Users page: the admin links a STARFACE user to a Salesforce user by
//! hand where their e-mail addresses differ (the manual's first FAQ item, when changing either
//! address is not an option). Kept in the store's `user_links` as `manual` rows, which the
//! e-mail match of each instance honours and the doctor counts as resolved.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use ctibridge_store::{
    InstanceId, InstanceStore, LinkSource, StoreError, UserLinkSpec, UserLookup, UserStore,
};
use serde::Deserialize;
use serde_json::json;

use super::{Admin, AdminError, Authed};
use crate::state::AppState;

/// Manual links of one instance: STARFACE login id -> Salesforce user id.
pub type ManualLinks = HashMap<String, String>;

/// The manual links of an instance.
pub async fn manual_links(
    store: &impl UserStore,
    instance: InstanceId,
) -> Result<ManualLinks, StoreError> {
    Ok(store
        .list_user_links(instance)
        .await?
        .into_iter()
        .filter(|l| l.source == LinkSource::Manual)
        .filter_map(|l| Some((l.starface_login_id, l.salesforce_user_id?)))
        .collect())
}

/// The manual links of every running instance, by instance name (empty where none or where
/// the store cannot be read: the page then shows the e-mail match only).
pub async fn manual_links_by_instance(app: &AppState) -> HashMap<String, ManualLinks> {
    let mut out = HashMap::new();
    for inst in &app.config.instances {
        let Ok(Some(row)) = app.store.get_instance(&inst.name).await else {
            continue;
        };
        match manual_links(&app.store, row.id).await {
            Ok(links) => {
                out.insert(inst.name.clone(), links);
            }
            Err(e) => {
                tracing::warn!(instance = %inst.name, error = %e, "cannot read manual user links")
            }
        }
    }
    out
}

/// The STARFACE user a Salesforce user is linked to by hand in an instance, as the status
/// shows it: for the panel's sign-in, which otherwise goes by e-mail.
pub fn linked_starface_login(
    app: &AppState,
    instance: &str,
    salesforce_user_id: &str,
) -> Option<String> {
    app.status()
        .instances
        .into_iter()
        .find(|i| i.name == instance)?
        .users
        .into_iter()
        .find(|u| u.salesforce_user_id.as_deref() == Some(salesforce_user_id))
        .map(|u| u.starface_login)
}

/// An active Salesforce user as the Users page offers it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrgUser {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

async fn org_users(app: &AppState, instance: &str) -> Result<Vec<OrgUser>, AdminError> {
    let client = app.clients.get(instance).ok_or_else(|| {
        AdminError::NotFound(format!("instance {instance:?} has no Salesforce client"))
    })?;
    client
        .query_all_pages::<OrgUser>(
            "SELECT Id, Name, Email FROM User WHERE IsActive = true ORDER BY Name",
        )
        .await
        .map(|all| all.records)
        .map_err(|e| AdminError::Upstream(format!("cannot read the org's users: {e}")))
}

async fn instance_id(app: &AppState, name: &str) -> Result<InstanceId, AdminError> {
    if app.instance(name).is_none() {
        return Err(AdminError::NotFound(format!(
            "no running instance {name:?}"
        )));
    }
    Ok(app
        .store
        .get_instance(name)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .ok_or_else(|| AdminError::NotFound(format!("instance {name:?} has not started yet")))?
        .id)
}

/// The org's active users, for the link picker.
pub async fn salesforce_users(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Path(instance): Path<String>,
) -> Result<Response, AdminError> {
    instance_id(&admin.app, &instance).await?;
    let users = org_users(&admin.app, &instance).await?;
    Ok(Json(json!({ "users": users })).into_response())
}

#[derive(Deserialize)]
pub struct LinkBody {
    salesforce_user_id: String,
}

/// Links a STARFACE user of the instance to a Salesforce user by hand.
pub async fn link(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Path((instance, login)): Path<(String, String)>,
    Json(body): Json<LinkBody>,
) -> Result<Response, AdminError> {
    let app = &admin.app;
    let id = instance_id(app, &instance).await?;
    let cfg = app
        .instance(&instance)
        .ok_or_else(|| AdminError::NotFound(format!("no running instance {instance:?}")))?;
    let dir = app.pbx_directory().ok_or_else(|| {
        AdminError::Upstream("the STARFACE user list is not read yet: try again in a moment".into())
    })?;
    let (scope, _) = dir.users_in_scope(&cfg.users, &cfg.groups);
    let pbx_user = scope
        .into_iter()
        .find(|u| u.login == login)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no STARFACE user {login:?} in the users or groups of {instance:?}"
            ))
        })?;
    let wanted = body.salesforce_user_id.trim();
    let sf = org_users(app, &instance)
        .await?
        .into_iter()
        .find(|u| u.id == wanted || (wanted.len() == 15 && u.id.starts_with(wanted)))
        .ok_or_else(|| {
            AdminError::BadRequest(format!("no active Salesforce user has the id {wanted:?}"))
        })?;
    let spec = UserLinkSpec {
        starface_user_id: pbx_user.id.to_string(),
        starface_login_id: pbx_user.login.clone(),
        email: Some(pbx_user.email.clone()).filter(|e| !e.trim().is_empty()),
        salesforce_user_id: Some(sf.id.clone()),
        source: LinkSource::Manual,
    };
    app.store
        .upsert_user_link(id, &spec)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => AdminError::Conflict(format!(
                "{} is linked to another STARFACE user already: remove that link first",
                sf.name
            )),
            other => AdminError::Internal(other.to_string()),
        })?;
    // The instance's next user match keeps it; the page shows it now.
    app.update_instance(&instance, |i| {
        if let Some(row) = i.users.iter_mut().find(|u| u.starface_login == login) {
            row.salesforce_user_id = Some(sf.id.clone());
            row.salesforce_user_name = Some(sf.name.clone());
            row.problem = None;
        }
    });
    tracing::info!(admin = %authed.session.user, %instance, starface = %login, salesforce = %sf.id, "user linked by hand");
    Ok(Json(json!({
        "instance": instance, "starface_login": login, "link": "manual",
        "salesforce_user_id": sf.id, "salesforce_user_name": sf.name,
    }))
    .into_response())
}

/// Removes a manual link: the e-mail match applies to the user again.
pub async fn unlink(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Path((instance, login)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let app = &admin.app;
    let id = instance_id(app, &instance).await?;
    let link = app
        .store
        .find_user_link(id, UserLookup::StarfaceLogin(&login))
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .filter(|l| l.source == LinkSource::Manual)
        .ok_or_else(|| AdminError::NotFound(format!("{login:?} has no manual link")))?;
    app.store
        .delete_user_link(id, &link.starface_user_id)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    // The e-mail match, as the instance's next user match makes it.
    let email = link.email.unwrap_or_default();
    let by_email = match org_users(app, &instance).await {
        Ok(users) => users.into_iter().find(|u| {
            !email.trim().is_empty()
                && u.email
                    .as_deref()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case(email.trim()))
        }),
        Err(_) => None,
    };
    app.update_instance(&instance, |i| {
        if let Some(row) = i.users.iter_mut().find(|u| u.starface_login == login) {
            row.salesforce_user_id = by_email.as_ref().map(|u| u.id.clone());
            row.salesforce_user_name = by_email.as_ref().map(|u| u.name.clone());
            row.problem = by_email.is_none().then(|| {
                format!(
                    "no active Salesforce user has the e-mail {}: make the e-mail addresses of both users the same, or link the user by hand",
                    email.trim()
                )
            });
        }
    });
    tracing::info!(admin = %authed.session.user, %instance, starface = %login, "manual user link removed");
    Ok(
        Json(json!({ "instance": instance, "starface_login": login, "removed": true }))
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct PasswordBody {
    password: String,
}

/// Sets a user's STARFACE password for the UCI session, as the panel's own prompt does (only
/// its SHA-512 is stored, encrypted), after the PBX accepted it: for users who never open the
/// panel themselves, or whose stored password went stale.
pub async fn set_password(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Path((instance, login)): Path<(String, String)>,
    Json(body): Json<PasswordBody>,
) -> Result<Response, AdminError> {
    use ctibridge_starface::rest::{RestClient, RestError};
    use secrecy::SecretString;
    let app = &admin.app;
    instance_id(app, &instance).await?;
    let cfg = app
        .instance(&instance)
        .ok_or_else(|| AdminError::NotFound(format!("no running instance {instance:?}")))?;
    let dir = app.pbx_directory().ok_or_else(|| {
        AdminError::Upstream("the STARFACE user list is not read yet: try again in a moment".into())
    })?;
    let (scope, _) = dir.users_in_scope(&cfg.users, &cfg.groups);
    if !scope.iter().any(|u| u.login == login) {
        return Err(AdminError::NotFound(format!(
            "no STARFACE user {login:?} in the users or groups of {instance:?}"
        )));
    }
    if body.password.is_empty() || body.password.len() > 256 {
        return Err(AdminError::BadRequest(
            "enter the user's STARFACE password".into(),
        ));
    }
    let password = SecretString::from(body.password);
    // A wrong password stored would only show later as a refused UCI session: ask the PBX now.
    let client = RestClient::new(&app.config.starface.url, &login, password.clone())
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    match client.check_login().await {
        Ok(()) => client.logout().await,
        Err(RestError::LoginRefused { .. }) => {
            return Err(AdminError::BadRequest(format!(
                "STARFACE refused this password for {login}: check it in the STARFACE web interface"
            )));
        }
        Err(e) => {
            return Err(AdminError::Upstream(format!(
                "cannot check the password with STARFACE: {e}"
            )));
        }
    }
    crate::uci::set_credentials(app, &login, &password)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    tracing::info!(admin = %authed.session.user, %instance, starface = %login, "STARFACE password set for the UCI session in the admin UI");
    Ok(
        Json(json!({ "instance": instance, "starface_login": login, "stored": true }))
            .into_response(),
    )
}
