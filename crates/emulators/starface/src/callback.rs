//! Posting events to a session's callback, one at a time so that a session sees them in order.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::control::DeliveryOutcome;
use crate::state::{Delivery, Shared};

/// Starts the worker of one session and returns the sender its events go into. The worker ends
/// when the session (the only holder of the sender) is dropped and the queue is drained.
pub(crate) fn start_worker(
    shared: &Arc<Shared>,
    session_id: u64,
) -> mpsc::UnboundedSender<Delivery> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            let outcome = post(&shared.http, &d).await;
            if let DeliveryOutcome::Failed(why) = &outcome {
                // A client that is down must not stop the PBX: count it and go on.
                tracing::warn!(session = session_id, url = %redacted(&d.url), error = %why, "callback failed");
            }
            shared.lock().set_outcome(d.seq, outcome);
        }
    });
    tx
}

async fn post(http: &reqwest::Client, d: &Delivery) -> DeliveryOutcome {
    let result = http
        .post(d.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
        .body(d.body.clone())
        .send()
        .await;
    match result {
        Ok(resp) if resp.status().is_success() => {
            // Drain the body so the connection can be reused; its content does not matter.
            let _ = resp.bytes().await;
            DeliveryOutcome::Delivered
        }
        Ok(resp) => DeliveryOutcome::Failed(format!("HTTP {}", resp.status())),
        Err(e) => DeliveryOutcome::Failed(e.without_url().to_string()),
    }
}

/// The URL without its query, which carries the session's auth value.
fn redacted(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}
