//! Readiness (`/readyz`) and Prometheus metrics (`/metrics`, text exposition format 0.0.4).
//!
//! The exposition is written by hand: it is a few dozen lines of text from state we already
//! keep, and a metrics crate would mean a second registry to keep in step with the status.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ctibridge_store::{OutboxCounts, OutboxStore};
use serde::Serialize;

use crate::state::AppState;
use crate::status::{LinkState, SystemStatus};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/readyz` and `/metrics`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// What `/readyz` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Each part that is not ready yet, with why.
    pub not_ready: Vec<String>,
}

/// Ready when the store answers, the PBX directory has been read and every enabled instance
/// has its phone index.
pub async fn readiness(state: &AppState) -> Readiness {
    let mut not_ready = Vec::new();
    if let Err(e) = state.store.outbox_counts(None).await {
        not_ready.push(format!("store: {e}"));
    }
    if state.pbx_directory().is_none() {
        let why = match state.status().starface.state {
            LinkState::Failed(detail) => detail,
            _ => "not read yet".to_owned(),
        };
        not_ready.push(format!("pbx_directory: {why}"));
    }
    for inst in state.config.instances.iter().filter(|i| i.enabled) {
        if state.lookup(&inst.name).is_none() {
            not_ready.push(format!(
                "instance {:?}: phone index not built yet",
                inst.name
            ));
        }
    }
    Readiness {
        ready: not_ready.is_empty(),
        not_ready,
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let r = readiness(&state).await;
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(r))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let ready = readiness(&state).await.ready;
    let outbox = state.store.outbox_counts(None).await.ok();
    let live = live_counts(&state);
    let body = render(&state.status(), ready, outbox, &live);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

/// Sessions and panels as the hub sees them, over the users of the PBX directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// UCI sessions under supervision.
    pub uci_sessions: usize,
    /// Users per UCI session state (`active`, `connecting`, ...).
    pub uci_states: BTreeMap<&'static str, usize>,
    /// Open panel connections.
    pub panels: usize,
}

fn live_counts(state: &AppState) -> LiveCounts {
    let mut live = LiveCounts {
        uci_sessions: state.uci.session_count(),
        ..Default::default()
    };
    if let Some(dir) = state.pbx_directory() {
        for u in &dir.users {
            *live
                .uci_states
                .entry(state.hub.uci(&u.login).state)
                .or_default() += 1;
            live.panels += state.hub.panels(&u.login);
        }
    }
    live
}

/// One metric family: its help, type and samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Self { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Label values escape backslash, double quote and line feed (format 0.0.4).
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn ts(t: &Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Writes every metric family in the text format.
pub fn render(
    status: &SystemStatus,
    ready: bool,
    outbox: Option<OutboxCounts>,
    live: &LiveCounts,
) -> String {
    let mut out = String::new();
    let o = &mut out;

    let n = "ctibridge_build_info";
    Family::new(o, n, "gauge", "Always 1; the version is a label.").sample(
        n,
        &[("version", status.version)],
        1.0,
    );
    if let Some(t) = ts(&status.started_at) {
        let n = "ctibridge_start_time_seconds";
        Family::new(o, n, "gauge", "When the service started (Unix time).").sample(n, &[], t);
    }
    let n = "ctibridge_ready";
    Family::new(o, n, "gauge", "1 when /readyz answers 200.").sample(n, &[], flag(ready));

    let sf = &status.starface;
    let n = "ctibridge_starface_up";
    Family::new(
        o,
        n,
        "gauge",
        "1 when the PBX directory was last read successfully.",
    )
    .sample(n, &[], flag(sf.state == LinkState::Ok));
    let n = "ctibridge_starface_users";
    Family::new(o, n, "gauge", "Users in the PBX directory.").sample(n, &[], sf.users as f64);
    let n = "ctibridge_starface_groups";
    Family::new(o, n, "gauge", "Groups in the PBX directory.").sample(n, &[], sf.groups as f64);

    let n = "ctibridge_uci_sessions";
    Family::new(o, n, "gauge", "UCI sessions under supervision.").sample(
        n,
        &[],
        live.uci_sessions as f64,
    );
    let n = "ctibridge_uci_users";
    let mut f = Family::new(o, n, "gauge", "PBX users per UCI session state.");
    for (state, count) in &live.uci_states {
        f.sample(n, &[("state", state)], *count as f64);
    }
    let n = "ctibridge_panels_connected";
    Family::new(o, n, "gauge", "Open panel connections.").sample(n, &[], live.panels as f64);

    if let Some(c) = outbox {
        let n = "ctibridge_outbox_items";
        let mut f = Family::new(o, n, "gauge", "Call-log outbox items per state.");
        for (state, v) in [
            ("pending", c.pending),
            ("in_flight", c.in_flight),
            ("done", c.done),
            ("failed", c.failed),
        ] {
            f.sample(n, &[("state", state)], v as f64);
        }
    }

    let inst = &status.instances;
    let family = |o: &mut String, n: &str, kind: &str, help: &str, each: &dyn Fn(&mut Family)| {
        let mut f = Family::new(o, n, kind, help);
        each(&mut f);
    };
    family(
        o,
        "ctibridge_salesforce_up",
        "gauge",
        "1 when the instance's org answered its last request.",
        &|f| {
            for i in inst {
                let up = i.salesforce == LinkState::Ok;
                f.sample(
                    "ctibridge_salesforce_up",
                    &[("instance", &i.name)],
                    flag(up),
                );
            }
        },
    );
    family(
        o,
        "ctibridge_index_records",
        "gauge",
        "Records in the phone index per instance and object.",
        &|f| {
            for i in inst {
                for (obj, v) in &i.records {
                    let l = [("instance", i.name.as_str()), ("object", obj.as_str())];
                    f.sample("ctibridge_index_records", &l, *v as f64);
                }
            }
        },
    );
    family(
        o,
        "ctibridge_index_numbers",
        "gauge",
        "Distinct phone numbers in the index per instance.",
        &|f| {
            for i in inst {
                let l = [("instance", i.name.as_str())];
                f.sample("ctibridge_index_numbers", &l, i.numbers_indexed as f64);
            }
        },
    );
    family(
        o,
        "ctibridge_index_numbers_unreadable",
        "gauge",
        "Phone values that could not be read as a number, per instance.",
        &|f| {
            for i in inst {
                let l = [("instance", i.name.as_str())];
                let v = i.numbers_unreadable as f64;
                f.sample("ctibridge_index_numbers_unreadable", &l, v);
            }
        },
    );
    family(
        o,
        "ctibridge_api_usage_used",
        "gauge",
        "The org's daily API requests used, from Sforce-Limit-Info.",
        &|f| {
            for i in inst {
                if let Some(u) = i.api_usage {
                    let l = [("instance", i.name.as_str())];
                    f.sample("ctibridge_api_usage_used", &l, u.used as f64);
                }
            }
        },
    );
    family(
        o,
        "ctibridge_api_usage_limit",
        "gauge",
        "The org's daily API request limit, from Sforce-Limit-Info.",
        &|f| {
            for i in inst {
                if let Some(u) = i.api_usage {
                    let l = [("instance", i.name.as_str())];
                    f.sample("ctibridge_api_usage_limit", &l, u.limit as f64);
                }
            }
        },
    );
    family(
        o,
        "ctibridge_sync_paused",
        "gauge",
        "1 while the instance's sync waits for API requests.",
        &|f| {
            for i in inst {
                let l = [("instance", i.name.as_str())];
                f.sample("ctibridge_sync_paused", &l, flag(i.sync.paused.is_some()));
            }
        },
    );
    family(
        o,
        "ctibridge_sync_last_cycle_timestamp_seconds",
        "gauge",
        "When the instance's last sync cycle ended (Unix time).",
        &|f| {
            for i in inst {
                if let Some(t) = ts(&i.sync.last_cycle_at) {
                    let l = [("instance", i.name.as_str())];
                    f.sample("ctibridge_sync_last_cycle_timestamp_seconds", &l, t);
                }
            }
        },
    );
    let per_object =
        |o: &mut String,
         n: &str,
         kind: &str,
         help: &str,
         value: &dyn Fn(&crate::status::ObjectSyncStatus) -> Option<f64>| {
            let mut f = Family::new(o, n, kind, help);
            for i in inst {
                for (obj, s) in &i.sync.objects {
                    if let Some(v) = value(s) {
                        f.sample(n, &[("instance", &i.name), ("object", obj)], v);
                    }
                }
            }
        };
    per_object(
        o,
        "ctibridge_sync_records",
        "gauge",
        "Records in the local cache per instance and object.",
        &|s| Some(s.records as f64),
    );
    per_object(
        o,
        "ctibridge_sync_last_full_success_timestamp_seconds",
        "gauge",
        "When the last full sync of the object succeeded (Unix time).",
        &|s| ts(&s.last_full_sync),
    );
    per_object(
        o,
        "ctibridge_sync_last_incremental_success_timestamp_seconds",
        "gauge",
        "When the last incremental sync of the object succeeded (Unix time).",
        &|s| ts(&s.last_incremental_sync),
    );
    per_object(
        o,
        "ctibridge_sync_error",
        "gauge",
        "1 while the object's sync has an error (see /api/status for the text).",
        &|s| Some(flag(s.error.is_some())),
    );
    per_object(
        o,
        "ctibridge_sync_api_calls_total",
        "counter",
        "API calls the object's syncs used since start.",
        &|s| Some(s.api_calls as f64),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{ApiUsageStatus, InstanceStatus, ObjectSyncStatus};

    #[test]
    fn label_values_escape_quotes_backslashes_and_newlines() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_sample_line_is_name_labels_value() {
        let mut inst = InstanceStatus {
            name: "Org \"A\"".into(),
            api_usage: Some(ApiUsageStatus {
                used: 18,
                limit: 15000,
            }),
            ..Default::default()
        };
        inst.records.insert("Contact".into(), 7);
        inst.sync.objects.insert(
            "Contact".into(),
            ObjectSyncStatus {
                records: 7,
                last_full_sync: Some(Utc::now()),
                error: Some("hidden field".into()),
                ..Default::default()
            },
        );
        let status = SystemStatus {
            version: "1.2.3",
            started_at: Some(Utc::now()),
            instances: vec![inst],
            ..Default::default()
        };
        let text = render(
            &status,
            false,
            Some(OutboxCounts::default()),
            &Default::default(),
        );
        assert!(text.contains("ctibridge_api_usage_limit{instance=\"Org \\\"A\\\"\"} 15000\n"));
        assert!(
            text.contains(
                "ctibridge_sync_error{instance=\"Org \\\"A\\\"\",object=\"Contact\"} 1\n"
            )
        );
        assert!(text.contains("ctibridge_ready 0\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
