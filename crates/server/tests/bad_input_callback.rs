//! Bad input at the UCI callback (`/uci/callback/<secret>`): every kind of malformed, hostile
//! or misaddressed XML-RPC gets a clear answer (an XML-RPC fault, 403, 404 or 413), adds no
//! call, and the next real call still reaches the panel.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use support::*;

/// A catalogue entry: what we send and the HTTP status we expect.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    content_type: &'static str,
    status: u16,
    /// The answer must be an XML-RPC fault (the PBX reads faults, not HTTP errors).
    fault: bool,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, status: u16, fault: bool) -> Case {
    Case {
        name,
        body: body.into(),
        content_type: "text/xml; charset=UTF-8",
        status,
        fault,
    }
}

fn nested(depth: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName><params><param><value>",
    );
    for _ in 0..depth {
        s.push_str("<array><data><value>");
    }
    for _ in 0..depth {
        s.push_str("</value></data></array>");
    }
    s.push_str("</value></param></params></methodCall>");
    s
}

fn catalogue() -> Vec<Case> {
    let valid = call_state_body("bad-input-call", "RINGING", "030123456");
    let mut cases = vec![
        case("empty body", "", 200, true),
        case("not XML at all", "hello, PBX", 200, true),
        case("truncated document", &valid[..valid.len() / 2], 200, true),
        case(
            "not UTF-8",
            vec![0xff, 0xfe, 0x00, 0x3c, 0x80, 0x81],
            200,
            true,
        ),
        case(
            "UTF-16 declared",
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><methodCall><methodName>x</methodName></methodCall>",
            200,
            true,
        ),
        case(
            "external entity (XXE)",
            "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
             <methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName><params><param><value><struct>\
             <member><name>id</name><value>&x;</value></member></struct></value></param></params></methodCall>",
            200,
            true,
        ),
        case(
            "entity expansion bomb",
            format!(
                "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY a \"{}\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>\
                 <methodCall><methodName>&b;</methodName></methodCall>",
                "A".repeat(1000)
            ),
            200,
            true,
        ),
        case("deeply nested arrays", nested(5_000), 200, true),
        case(
            "unknown method",
            "<?xml version=\"1.0\"?><methodCall><methodName>system.shutdown</methodName><params/></methodCall>",
            200,
            true,
        ),
        case(
            "call event without a struct",
            "<?xml version=\"1.0\"?><methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName><params><param><value><int>7</int></value></param></params></methodCall>",
            200,
            true,
        ),
        case(
            "call event without an id",
            call_state_body("", "RINGING", "030123456"),
            200,
            true,
        ),
        case(
            "call id longer than any PBX writes",
            call_state_body(&"x".repeat(10_000), "RINGING", "030123456"),
            200,
            true,
        ),
        case(
            "body above the size limit",
            format!(
                "{}{}",
                valid,
                " ".repeat(ctibridge_server::http::MAX_BODY_BYTES)
            ),
            413,
            false,
        ),
        Case {
            content_type: "application/json",
            ..case(
                "JSON instead of XML-RPC",
                r#"{"id":"x","state":"RINGING"}"#,
                200,
                true,
            )
        },
    ];
    // Many members: the decoder indexes them, so this stays linear and is refused or read fast.
    let mut wide = String::from(
        "<?xml version=\"1.0\"?><methodCall><methodName>ucp.v22.events.call.receiveCallState</methodName><params><param><value><struct>",
    );
    for i in 0..5_000 {
        wide.push_str(&format!(
            "<member><name>m{i}</name><value>v</value></member>"
        ));
    }
    wide.push_str("</struct></value></param></params></methodCall>");
    cases.push(case("five thousand members, no id", wide, 200, true));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_callback_gets_a_clear_answer_and_adds_no_call() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let url = w.callback_url("1001");
    let http = reqwest::Client::new();
    for c in catalogue() {
        let resp = http
            .post(&url)
            .header("content-type", c.content_type)
            .body(c.body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, c.status, "{}: {body}", c.name);
        if c.fault {
            assert!(body.contains("<fault>"), "{}: not a fault: {body}", c.name);
            // The fault itself is well-formed XML-RPC the PBX can read.
            let parsed = ctibridge_starface::xmlrpc::MethodResponse::from_xml(body.as_bytes());
            assert!(parsed.is_ok(), "{}: unreadable fault {body}", c.name);
            assert!(!body.contains("root:"), "{}: file content leaked", c.name);
        }
    }
    assert!(
        w.running.state().uci.current_calls("1001").is_empty(),
        "a malformed callback created a call"
    );
    // The service and the session still work: a real call arrives.
    let ended = w.call_reaches_panel(&mut ws, "1001").await;
    assert_eq!(ended["call"]["outcome"], "answered");
    assert!(healthy(&w.base).await);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_misaddressed_and_replayed_callbacks_are_refused() {
    let w = world().await;
    let http = reqwest::Client::new();
    let url = w.callback_url("1001");
    let body = call_state_body("replayed-call", "RINGING", "030123456");

    // A secret nobody was given.
    let r = http
        .post(format!("{}/uci/callback/{}", w.base, "A".repeat(43)))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Ben's secret with an auth value that is not his session's.
    let r = http
        .post(format!(
            "{url}?de.vertico.starface.user=1001&de.vertico.starface.auth=1001:forged"
        ))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Ben's secret, but the PBX's query says the event is Clara's.
    let r = http
        .post(format!("{url}?de.vertico.starface.user=1002"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("<fault>"), "{text}");
    assert!(w.running.state().uci.current_calls("1002").is_empty());
    assert!(w.running.state().uci.current_calls("1001").is_empty());

    // The same event twice is one call, not two.
    for _ in 0..2 {
        let r = http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(w.running.state().uci.current_calls("1001").len(), 1);

    // New credentials start a new session with a new secret: the old one is dead.
    ctibridge_server::uci::set_credentials(
        w.running.state(),
        "1001",
        &"ben-pass".to_owned().into(),
    )
    .await
    .unwrap();
    let old_path = url::Url::parse(&url).unwrap().path().to_owned();
    let pbx = w.pbx.control();
    eventually("a new session for Ben", || {
        pbx.sessions().iter().any(|s| {
            s.login == "1001"
                && s.callback
                    .as_deref()
                    .is_some_and(|c| !c.ends_with(&old_path))
        })
    })
    .await;
    let r = http
        .post(&url)
        .body(call_state_body("replayed-later", "RINGING", "030123456"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a replaced session's secret still works");

    // Other methods on the route are refused.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(healthy(&w.base).await);
    w.running.shutdown().await;
}
