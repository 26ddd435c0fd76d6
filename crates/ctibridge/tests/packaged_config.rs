//! The .deb ships packaging/config.toml as /etc/ctibridge/config.toml; it must stay what
//! `ctibridge config example` prints, so the packaged file never drifts from the documented one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed step stops the test

#[test]
fn packaged_config_equals_config_example() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctibridge"))
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let packaged = include_str!("../../../packaging/config.toml");
    assert!(
        String::from_utf8(out.stdout).unwrap() == packaged,
        "packaging/config.toml is stale: run `ctibridge config example > packaging/config.toml`"
    );
}
