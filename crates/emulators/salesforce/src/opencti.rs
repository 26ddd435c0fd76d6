//! A stand-in for Salesforce's Open CTI library (`opencti_min.js`) that records every call
//! for tests and hands it to the host page, plus the endpoints it talks to.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::errors::json_value;
use crate::org::Org;
use crate::rest::screenpop_matches;
use crate::schema::SCHEMA;
use crate::store::WriteCtx;
use crate::time;

/// The script. `__EMULATOR_ORIGIN__` is replaced with the org's origin when served.
const SCRIPT: &str = r#"/* Open CTI stand-in served by the ctibridge Salesforce emulator. Not Salesforce's code. */
(function () {
  'use strict';
  var EMULATOR = '__EMULATOR_ORIGIN__';
  var calls = window.__opencti_calls = window.__opencti_calls || [];
  var listeners = { clickToDial: null, navigation: null };
  var state = {
    clickToDialEnabled: false,
    visible: true,
    height: null,
    width: null,
    label: null,
    icon: null,
    appView: { url: null, recordId: null, recordName: null, objectType: null }
  };
  var SCREENPOP_TYPE = {
    SOBJECT: 'sobject', URL: 'url', OBJECTHOME: 'objecthome', LIST: 'list',
    SEARCH: 'search', NEW_RECORD_MODAL: 'newRecord', FLOW: 'flow'
  };
  var CALL_TYPE = { INBOUND: 'inbound', OUTBOUND: 'outbound', INTERNAL: 'internal' };

  function plain(value) {
    if (typeof value === 'function') return '[function]';
    if (value === undefined) return null;
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === 'object') {
      var out = {};
      Object.keys(value).forEach(function (k) { out[k] = plain(value[k]); });
      return out;
    }
    return value;
  }
  function record(method, args) {
    var entry = { method: method, args: plain(args), at: new Date().toISOString() };
    calls.push(entry);
    try { window.parent.postMessage({ type: 'opencti-call', method: method, args: entry.args }, '*'); } catch (e) { /* no host */ }
    try {
      fetch(EMULATOR + '/__emulator/opencti-calls', {
        method: 'POST', mode: 'cors', keepalive: true,
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(entry)
      }).catch(function () {});
    } catch (e) { /* fetch unavailable */ }
  }
  function reply(args, success, returnValue, errors) {
    var cb = args && args.callback;
    if (typeof cb !== 'function') return;
    var result = { success: success, returnValue: returnValue === undefined ? null : returnValue, errors: errors || null };
    setTimeout(function () { cb(result); }, 0);
  }
  function fail(args, message) { reply(args, false, null, [{ description: message, details: null }]); }
  function api(method, impl) {
    return function (args) {
      args = args || {};
      record(method, args);
      try { impl(args); } catch (e) { fail(args, String(e)); }
    };
  }
  function call(path, body) {
    var init = body === undefined ? { method: 'GET', mode: 'cors' } : {
      method: 'POST', mode: 'cors', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    };
    return fetch(EMULATOR + path, init).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, json: j }; });
    });
  }
  function isType(t) {
    return Object.keys(SCREENPOP_TYPE).some(function (k) { return SCREENPOP_TYPE[k] === t; });
  }

  var opencti = {
    SCREENPOP_TYPE: SCREENPOP_TYPE,
    CALL_TYPE: CALL_TYPE,
    screenPop: api('screenPop', function (a) {
      var p = a.params || {};
      if (!isType(a.type)) return fail(a, 'Invalid screen pop type: ' + a.type);
      if (a.type === 'sobject' && !p.recordId) return fail(a, 'recordId is required for SOBJECT');
      if (a.type === 'url' && !p.url) return fail(a, 'url is required for URL');
      if (a.type === 'search' && (!p.searchString || String(p.searchString).length < 3)) {
        return fail(a, 'searchString must be at least 3 characters');
      }
      if (a.type === 'newRecord' && !p.entityName) return fail(a, 'entityName is required for NEW_RECORD_MODAL');
      if (a.type === 'flow' && !p.flowDevName) return fail(a, 'flowDevName is required for FLOW');
      reply(a, true, null);
    }),
    searchAndScreenPop: api('searchAndScreenPop', function (a) {
      call('/__emulator/opencti/search', {
        searchParams: a.searchParams || '', queryParams: a.queryParams || '',
        callType: a.callType || null, deferred: !!a.deferred
      }).then(function (r) {
        if (r.ok) reply(a, true, r.json); else fail(a, 'search failed');
      }, function (e) { fail(a, String(e)); });
    }),
    onClickToDial: api('onClickToDial', function (a) {
      if (typeof a.listener !== 'function') return fail(a, 'listener must be a function');
      listeners.clickToDial = a.listener;
      reply(a, true, null);
    }),
    enableClickToDial: api('enableClickToDial', function (a) { state.clickToDialEnabled = true; reply(a, true, null); }),
    disableClickToDial: api('disableClickToDial', function (a) { state.clickToDialEnabled = false; reply(a, true, null); }),
    setSoftphonePanelVisibility: api('setSoftphonePanelVisibility', function (a) {
      if (typeof a.visible !== 'boolean') return fail(a, 'visible must be a boolean');
      state.visible = a.visible;
      reply(a, true, null);
    }),
    isSoftphonePanelVisible: api('isSoftphonePanelVisible', function (a) { reply(a, true, { visible: state.visible }); }),
    setSoftphonePanelHeight: api('setSoftphonePanelHeight', function (a) {
      if (typeof a.heightPX !== 'number' || a.heightPX <= 0) return fail(a, 'heightPX must be a positive number');
      state.height = a.heightPX;
      reply(a, true, null);
    }),
    setSoftphonePanelWidth: api('setSoftphonePanelWidth', function (a) {
      if (typeof a.widthPX !== 'number' || a.widthPX <= 0) return fail(a, 'widthPX must be a positive number');
      state.width = a.widthPX;
      reply(a, true, null);
    }),
    setSoftphoneItemLabel: api('setSoftphoneItemLabel', function (a) {
      if (typeof a.label !== 'string') return fail(a, 'label must be a string');
      state.label = a.label;
      reply(a, true, null);
    }),
    setSoftphoneItemIcon: api('setSoftphoneItemIcon', function (a) {
      if (typeof a.key !== 'string') return fail(a, 'key must be a string');
      state.icon = a.key;
      reply(a, true, null);
    }),
    saveLog: api('saveLog', function (a) {
      if (!a.value || typeof a.value !== 'object') return fail(a, 'value is required');
      call('/__emulator/opencti/save-log', { value: a.value }).then(function (r) {
        if (r.ok) reply(a, true, r.json);
        else reply(a, false, null, (r.json && r.json.errors) || [{ description: 'save failed' }]);
      }, function (e) { fail(a, String(e)); });
    }),
    refreshView: api('refreshView', function (a) { reply(a, true, null); }),
    getAppViewInfo: api('getAppViewInfo', function (a) { reply(a, true, state.appView); }),
    onNavigationChange: api('onNavigationChange', function (a) {
      if (typeof a.listener !== 'function') return fail(a, 'listener must be a function');
      listeners.navigation = a.listener;
      reply(a, true, null);
    }),
    runApex: api('runApex', function (a) {
      fail(a, 'No Apex class named ' + a.apexClass + ' exists in this org');
    }),
    getCallCenterSettings: api('getCallCenterSettings', function (a) {
      call('/__emulator/opencti/call-center-settings').then(function (r) {
        if (r.ok) reply(a, true, r.json); else fail(a, 'settings unavailable');
      }, function (e) { fail(a, String(e)); });
    }),
    notifyInitializationComplete: api('notifyInitializationComplete', function (a) { reply(a, true, null); })
  };

  window.sforce = window.sforce || {};
  window.sforce.opencti = opencti;
  window.__opencti_state = state;

  // The host page (the demo's utility bar) drives what Salesforce would: click-to-dial and
  // navigation.
  window.addEventListener('message', function (ev) {
    var d = ev.data;
    if (!d || typeof d !== 'object') return;
    if (d.type === 'opencti-click-to-dial') {
      if (state.clickToDialEnabled && listeners.clickToDial) {
        listeners.clickToDial(d.payload);
      } else if (ev.source && ev.source.postMessage) {
        ev.source.postMessage({ type: 'opencti-click-to-dial-ignored',
          reason: listeners.clickToDial ? 'click-to-dial disabled' : 'no listener' }, '*');
      }
    } else if (d.type === 'opencti-navigate') {
      state.appView = d.appViewInfo || d.payload || state.appView;
      if (listeners.navigation) listeners.navigation(state.appView);
    }
  });
})();
"#;

/// `GET /support/api/{v}/lightning/opencti_min.js`.
pub(crate) async fn script(State(org): State<Arc<Org>>) -> Response {
    let body = SCRIPT.replace("__EMULATOR_ORIGIN__", &org.origin());
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript;charset=UTF-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /__emulator/opencti-calls`: the script reports a call.
pub(crate) async fn record_call(
    State(org): State<Arc<Org>>,
    Json(call): Json<Value>,
) -> StatusCode {
    org.state().opencti_calls.push(call);
    StatusCode::NO_CONTENT
}

/// `GET /__emulator/opencti-calls`.
pub(crate) async fn list_calls(State(org): State<Arc<Org>>) -> Response {
    let calls = org.state().opencti_calls.clone();
    json_value(StatusCode::OK, &calls)
}

/// `DELETE /__emulator/opencti-calls`.
pub(crate) async fn clear_calls(State(org): State<Arc<Org>>) -> StatusCode {
    org.state().opencti_calls.clear();
    StatusCode::NO_CONTENT
}

/// `POST /__emulator/opencti/search`: what `searchAndScreenPop` finds.
pub(crate) async fn search(State(org): State<Arc<Org>>, Json(body): Json<Value>) -> Response {
    let term = body
        .get("searchParams")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let found = if term.trim().chars().count() < 2 {
        json!({})
    } else {
        screenpop_matches(&org, term.trim())
    };
    json_value(StatusCode::OK, &found)
}

/// `POST /__emulator/opencti/save-log`: `saveLog` creates or updates a record.
pub(crate) async fn save_log(State(org): State<Arc<Org>>, Json(body): Json<Value>) -> Response {
    let Some(value) = body.get("value").and_then(Value::as_object) else {
        return json_value(
            StatusCode::BAD_REQUEST,
            &json!({ "errors": [{ "description": "value is required" }] }),
        );
    };
    let mut fields: Map<String, Value> = value.clone();
    let id = fields
        .remove("Id")
        .and_then(|v| v.as_str().map(str::to_owned));
    let entity = fields
        .remove("entityApiName")
        .and_then(|v| v.as_str().map(str::to_owned));
    let ctx = WriteCtx {
        user_id: org.run_as().map(|u| u.id.clone()).unwrap_or_default(),
        now: time::now_ms(),
        trusted: false,
    };
    let mut data = org.write();
    let result = match (id, entity) {
        (Some(id), _) => match data.find(&id).map(|(o, _)| o) {
            Some(o) => data
                .update(o, &id, &fields, &ctx)
                .map_err(|e| format!("{e:?}")),
            None => Err(format!("no record with id {id}")),
        },
        (None, Some(entity)) => match SCHEMA.object_index(&entity) {
            Some(o) => data.insert(o, &fields, &ctx).map_err(|e| {
                e.into_iter()
                    .map(|e| e.message)
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            None => Err(format!("no object named {entity}")),
        },
        (None, None) => Err("value needs entityApiName or Id".to_owned()),
    };
    drop(data);
    match result {
        Ok(id) => json_value(StatusCode::OK, &json!({ "recordId": id })),
        Err(e) => json_value(
            StatusCode::BAD_REQUEST,
            &json!({ "errors": [{ "description": e }] }),
        ),
    }
}

/// `GET /__emulator/opencti/call-center-settings`.
pub(crate) async fn call_center_settings(State(org): State<Arc<Org>>) -> Response {
    let settings = org.state().call_center_settings.clone();
    json_value(StatusCode::OK, &Value::Object(settings))
}
