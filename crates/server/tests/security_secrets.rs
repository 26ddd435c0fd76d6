//! Secrets never reach a log or the disk in clear: a full run of the real binary at log level
//! `trace` (sync, panel sign-in, a user's STARFACE password, a call, a SIGKILL and a restart),
//! then every log line it wrote and every file of its data directory are searched for every
//! secret it used.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::path::Path;

use support::*;

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    haystack.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_or_stored_in_clear() {
    let s = served::scenario(true).await;
    // Let the log writer flush what the second run wrote.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut files = Vec::new();
    files_under(s.dir.path(), &mut files);
    let logs: Vec<_> = files
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "stderr")
                || p.components().any(|c| c.as_os_str() == "logs")
        })
        .collect();
    assert!(
        logs.len() >= 3,
        "expected stderr of both runs and log files: {logs:?}"
    );
    let log_bytes: usize = logs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len() as usize)
        .sum();
    assert!(log_bytes > 1000, "the runs logged almost nothing");
    let stored: Vec<_> = files
        .iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "data"))
        .filter(|p| !p.components().any(|c| c.as_os_str() == "logs"))
        .collect();
    assert!(!stored.is_empty(), "no data files found");

    for path in logs.iter().chain(stored.iter()) {
        let bytes = std::fs::read(path).unwrap();
        for (what, secret) in &s.secrets {
            assert!(
                !contains(&bytes, secret),
                "the {what} is in {} in clear",
                path.display()
            );
        }
    }
    // Logs still name what happened, so that the search above searched something real.
    let all_logs: String = logs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect();
    assert!(all_logs.contains("1001"), "the logs never mention the user");
}
