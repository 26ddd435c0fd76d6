//! Hostile values from outside: caller numbers full of SOQL/SOSL/HTML specials reach the panel
//! as plain text and never reach Salesforce (the ring path makes no API call at all), and
//! notes that are too long are cut or refused, never stored whole, never another user's.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use serde_json::json;
use support::*;

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_caller_numbers_reach_the_panel_as_text_and_never_reach_salesforce() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let url = w.callback_url("1001");
    let http = reqwest::Client::new();
    let long = "4".repeat(1_000);
    let hostile = [
        "' OR Name != '",
        "030\\' OR Id != null --",
        "{!Contact.Phone} FIND {*}",
        "+49 30 *&|!(){}[]^\"~*?:\\ 123",
        "<script>alert(1)</script>",
        "030123456'; DELETE FROM Contact",
        "\u{202e}0301234567",
        "☎ 030 123 456 📞",
        long.as_str(),
    ];
    let api_before = w.org.control().api_usage().used;
    for (i, number) in hostile.iter().enumerate() {
        let id = format!("hostile-{i}");
        let r = http
            .post(&url)
            .body(call_state_body(&id, "RINGING", &xml_text(number)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{number}");
        let frame = wait_frame(&mut ws, |v| v["call"]["id"] == id.as_str()).await;
        let raw = frame["call"]["remote"]["raw"].as_str().unwrap();
        let expected: String = number.trim().chars().take(255).collect();
        assert_eq!(raw, expected, "{number}");
        assert!(
            frame["call"]["matches"].as_array().unwrap().is_empty(),
            "{number} matched a record: {frame}"
        );
    }
    assert_eq!(
        w.org.control().api_usage().used,
        api_before,
        "a caller number caused a Salesforce request"
    );
    assert!(healthy(&w.base).await);
    w.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_that_are_too_long_are_cut_or_refused_and_stay_the_users_own() {
    let w = world().await;
    let ben = sign_in(&w.base, "ben.utzer@example.com").await;
    let clara = sign_in(&w.base, "clara.klein@example.com").await;
    let (mut ws, _) = connect(&w.base, &ben).await;
    let ended = w.call_reaches_panel(&mut ws, "1001").await;
    let id = ended["call"]["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let notes_url = format!("{}/panel/api/calls/{id}/notes", w.base);

    // Above the request size limit: refused, nothing stored.
    let huge = "n".repeat(ctibridge_server::http::MAX_BODY_BYTES + 1);
    let r = http
        .put(&notes_url)
        .bearer_auth(&ben)
        .json(&json!({ "notes": huge }))
        .send()
        .await
        .unwrap();
    // 413, or the JSON extractor's 400 that names the length limit.
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(
        status == 413 || (status == 400 && text.contains("limit")),
        "{status}: {text}"
    );
    assert!(w.running.state().actions.notes_of("1001", &id).is_none());

    // Long but within the limit, full of query specials: kept, cut to what a Task holds.
    let long = format!("' OR Name != ' {{!x}} {}", "ü".repeat(100_000));
    let r = http
        .put(&notes_url)
        .bearer_auth(&ben)
        .json(&json!({ "notes": long, "result": "r".repeat(10_000) }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let kept = w.running.state().actions.notes_of("1001", &id).unwrap();
    let notes = kept.notes.unwrap();
    assert!(notes.starts_with("' OR Name != ' {!x}"));
    assert!(
        notes.chars().count() < long.chars().count(),
        "notes were not cut"
    );
    assert!(
        kept.result.unwrap().chars().count() < 10_000,
        "result was not cut"
    );

    // Clara writing notes on Ben's call id touches Ben's notes not at all.
    let _ = http
        .put(&notes_url)
        .bearer_auth(&clara)
        .json(&json!({ "notes": "Clara was here" }))
        .send()
        .await
        .unwrap();
    let still = w.running.state().actions.notes_of("1001", &id).unwrap();
    assert_eq!(still.notes.unwrap(), notes);

    // Garbage bodies and ids are refused with a clear error.
    for (body, ctype) in [
        ("{", "application/json"),
        ("notes=x", "application/x-www-form-urlencoded"),
    ] {
        let r = http
            .put(&notes_url)
            .bearer_auth(&ben)
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
    }
    let r = http
        .put(format!(
            "{}/panel/api/calls/{}/notes",
            w.base,
            "x".repeat(300)
        ))
        .bearer_auth(&ben)
        .json(&json!({ "notes": "n" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(healthy(&w.base).await);
    w.running.shutdown().await;
}
