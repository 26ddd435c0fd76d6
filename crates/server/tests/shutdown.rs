//! A connector that shuts down ends its users' UCI sessions: it logs them out at the PBX and
//! does not go on calling the PBX afterwards (several connectors run in one process in the
//! load tool and in these tests).

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_logs_the_uci_sessions_out_and_nothing_logs_in_again() {
    let w = world_with(Wiring {
        credentials: BEN_AND_CLARA.to_vec(),
        wait_ready: true,
        // Fast retries: a supervisor left running would log in again within a second.
        fast_uci: true,
        ..Default::default()
    })
    .await;
    let pbx = w.pbx.control();
    assert_eq!(pbx.sessions().len(), 2);
    let World { running, .. } = w;
    tokio::time::timeout(LIMIT, running.shutdown())
        .await
        .unwrap();
    assert!(
        pbx.sessions().is_empty(),
        "sessions left after shutdown: {:?}",
        pbx.sessions().iter().map(|s| &s.login).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(pbx.sessions().is_empty(), "a session logged in again");
}
