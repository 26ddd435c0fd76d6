//! The Cards page: each instance's caller-card layout (fields per object, chosen from the
//! org's describe, custom fields too), the object priority for multi-matches and the daily API
//! cap. Saved in the store ([`super::settings`]) and applied at once: the live cards move to
//! the new layout, lookups use the new priority, and the next sync reads the new fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use ctibridge_domain::ObjectType;
use ctibridge_salesforce::{FieldDescribe, ObjectDescribe};
use ctibridge_store::{Instance, InstanceStore};
use serde::Serialize;
use serde_json::json;

use super::settings::{self, InstanceSettings};
use super::{Admin, AdminError, Authed};
use crate::cards::{CARD_OBJECTS, CardLayout, FieldSpec};
use crate::state::AppState;
use crate::sync::field_behind;

/// A field the admin can put on a card.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Choice {
    pub path: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: String,
    pub custom: bool,
}

/// Field types that show nothing useful as one line of text.
const NOT_ON_CARDS: &[&str] = &[
    "id",
    "base64",
    "address",
    "location",
    "anyType",
    "complexvalue",
];

/// The fields of a describe a card can show: plain fields as they are, lookups as the name of
/// the record they point at (`OwnerId` -> `Owner.Name`, `Partner__c` -> `Partner__r.Name`).
pub fn choices(describe: &ObjectDescribe) -> Vec<Choice> {
    let mut out: Vec<Choice> = describe
        .fields
        .iter()
        .filter(|f| {
            !NOT_ON_CARDS
                .iter()
                .any(|t| f.field_type.eq_ignore_ascii_case(t))
        })
        .filter(|f| f.name != "Name")
        .filter_map(choice)
        .collect();
    out.sort_by_key(|c| c.label.to_lowercase());
    out
}

fn choice(f: &FieldDescribe) -> Option<Choice> {
    if !f.field_type.eq_ignore_ascii_case("reference") {
        return Some(Choice {
            path: f.name.clone(),
            label: f.label.clone(),
            field_type: f.field_type.clone(),
            custom: f.custom,
        });
    }
    f.reference_to.first()?;
    let rel = match f.name.strip_suffix("__c") {
        Some(stem) => format!("{stem}__r"),
        None => f.name.strip_suffix("Id")?.to_owned(),
    };
    let label = f
        .label
        .strip_suffix(" ID")
        .unwrap_or(&f.label)
        .trim()
        .to_owned();
    Some(Choice {
        path: format!("{rel}.Name"),
        label,
        field_type: "reference".to_owned(),
        custom: f.custom,
    })
}

/// The running instance of that name with its store row.
async fn instance(app: &AppState, name: &str) -> Result<Instance, AdminError> {
    if app.instance(name).is_none() {
        return Err(AdminError::NotFound(format!(
            "no running instance {name:?} (an instance saved just now runs after a restart)"
        )));
    }
    app.store
        .get_instance(name)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .ok_or_else(|| AdminError::NotFound(format!("instance {name:?} has not started yet")))
}

/// Every running instance's settings, with the defaults filled in.
pub async fn list(State(admin): State<Arc<Admin>>, _a: Authed) -> Result<Response, AdminError> {
    let app = &admin.app;
    let mut out = Vec::new();
    for cfg in &app.config.instances {
        let Ok(Some(row)) = app.store.get_instance(&cfg.name).await else {
            continue;
        };
        let saved = settings::load(&app.store, row.id)
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        let live = saved.to_live();
        let usage = app.clients.get(&cfg.name).and_then(|c| c.api_usage());
        let paused = app
            .status()
            .instances
            .iter()
            .find(|i| i.name == cfg.name)
            .and_then(|i| i.sync.paused.as_ref().map(|p| p.reason.clone()));
        out.push(json!({
            "name": cfg.name,
            "cards": live.layout.specs(),
            "priority": live.priority.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
            "daily_api_cap": live.daily_api_cap,
            "log_calls": log_calls(cfg),
            "api_usage": usage.map(|u| json!({"used": u.used, "limit": u.limit})),
            "paused": paused,
        }));
    }
    Ok(Json(json!({
        "objects": CARD_OBJECTS,
        "defaults": CardLayout::default().specs(),
        "instances": out,
    }))
    .into_response())
}

fn log_calls(cfg: &ctibridge_config::InstanceConfig) -> serde_json::Value {
    let c = &cfg.calls;
    json!({
        "inbound": c.log_inbound, "outbound": c.log_outbound, "missed": c.log_missed,
        "internal": c.log_internal,
        "missed_group_calls": match c.missed_group_calls {
            ctibridge_config::MissedGroupCalls::Group => "group",
            ctibridge_config::MissedGroupCalls::Each => "each",
            ctibridge_config::MissedGroupCalls::None => "none",
        },
    })
}

async fn describe_all(
    app: &AppState,
    name: &str,
) -> Result<BTreeMap<&'static str, ObjectDescribe>, AdminError> {
    let client = app.clients.get(name).ok_or_else(|| {
        AdminError::NotFound(format!("instance {name:?} has no Salesforce client"))
    })?;
    let mut out = BTreeMap::new();
    for object in CARD_OBJECTS {
        let ty = ObjectType::parse(object).map_err(|e| AdminError::Internal(e.to_string()))?;
        let d = client.describe(&ty).await.map_err(|e| {
            AdminError::Upstream(format!(
                "cannot read the fields of {object} from the org: {e}"
            ))
        })?;
        out.insert(object, d);
    }
    Ok(out)
}

/// The fields each object's card can show, from the org's describe.
pub async fn fields(
    State(admin): State<Arc<Admin>>,
    _a: Authed,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    instance(&admin.app, &name).await?;
    let described = describe_all(&admin.app, &name).await?;
    let objects: BTreeMap<&str, Vec<Choice>> =
        described.iter().map(|(o, d)| (*o, choices(d))).collect();
    Ok(Json(json!({ "objects": objects })).into_response())
}

/// Saves an instance's card layout, priority and cap, and applies them at once.
pub async fn save(
    State(admin): State<Arc<Admin>>,
    authed: Authed,
    Path(name): Path<String>,
    Json(mut body): Json<InstanceSettings>,
) -> Result<Response, AdminError> {
    let row = instance(&admin.app, &name).await?;
    for fields in body.cards.values_mut() {
        for f in fields.iter_mut() {
            *f = FieldSpec {
                path: f.path.trim().to_owned(),
                label: f.label.trim().to_owned(),
            };
        }
    }
    body.check()
        .map_err(|problems| AdminError::BadRequest(problems.join("; ")))?;
    if !body.cards.is_empty() {
        // A field the run-as user cannot see would stop the object's whole sync: refuse it
        // here, where the admin can pick another.
        let described = describe_all(&admin.app, &name).await?;
        let mut missing = Vec::new();
        for (object, fields) in &body.cards {
            let Some(d) = described.get(object.as_str()) else {
                continue;
            };
            for f in fields {
                if d.field(&field_behind(&f.path)).is_none() {
                    missing.push(format!("{object}.{}", f.path));
                }
            }
        }
        if !missing.is_empty() {
            return Err(AdminError::BadRequest(format!(
                "not in the org or hidden from the run-as user: {}; pick another field, or make it visible to the run-as user's profile (Setup > Object Manager > the object > Fields & Relationships > the field > Set Field-Level Security)",
                missing.join(", ")
            )));
        }
    }
    settings::save(&admin.app.store, row.id, &body)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let live = body.to_live();
    if let Some(lookup) = admin.app.lookup(&name) {
        lookup.cards.set_layout(live.layout.clone());
        lookup.index.set_priority(&live.priority);
    }
    // Also before the instance published its index: its running first cycle read the old
    // settings, and the next would only come after `sync_interval`.
    if let Some(wake) = admin.app.settings_changed(&name) {
        wake.notify_one();
    }
    tracing::info!(admin = %authed.session.user, instance = %name, "card layout, priority and API cap saved; the next sync reads new fields");
    Ok(Json(json!({
        "name": name,
        "cards": live.layout.specs(),
        "priority": live.priority.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "daily_api_cap": live.daily_api_cap,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, label: &str, ty: &str, refs: &[&str]) -> FieldDescribe {
        serde_json::from_value(json!({
            "name": name, "label": label, "type": ty, "custom": name.ends_with("__c"),
            "referenceTo": refs,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn lookups_become_the_name_of_the_record_they_point_at() {
        let d = ObjectDescribe {
            name: "Contact".into(),
            label: "Contact".into(),
            createable: true,
            updateable: true,
            fields: vec![
                field("Id", "Contact ID", "id", &[]),
                field("OwnerId", "Owner ID", "reference", &["User"]),
                field("Partner__c", "Partner", "reference", &["Account"]),
                field("Department", "Department", "string", &[]),
                field("Region__c", "Region", "picklist", &[]),
            ],
        };
        let paths: Vec<(String, String)> =
            choices(&d).into_iter().map(|c| (c.path, c.label)).collect();
        assert_eq!(
            paths,
            vec![
                ("Department".into(), "Department".into()),
                ("Owner.Name".into(), "Owner".into()),
                ("Partner__r.Name".into(), "Partner".into()),
                ("Region__c".into(), "Region".into()),
            ]
        );
    }
}
