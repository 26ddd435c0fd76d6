//! Configuration files with every kind of mistake, checked by the real binary
//! (`ctibridge config check`): each exits with 1 (never a panic), names the key at fault with
//! its line, and never echoes a secret back.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

mod support;

use std::path::Path;
use std::process::Command;

const BASE: &str = r#"[server]
listen = "127.0.0.1:18443"
public_url = "http://127.0.0.1:18443/"
data_dir = "DATA"

[log]
level = "info"

[starface]
url = "http://127.0.0.1:18444/"
admin_login = "0001"
admin_password = "admin-pass-Zq81"

[dialing]
country = "DE"
outside_line_prefix = "0"
internal_number_max_len = 4

[[instance]]
name = "Demo"
groups = ["Sales"]

[instance.salesforce]
login_url = "http://127.0.0.1:18445"
client_id = "demo-consumer-key"
client_secret = "consumer-secret-Qw93"
api_version = "62.0"
"#;

/// The secrets of [`BASE`]: no error message may show them.
const SECRETS: [&str; 2] = ["admin-pass-Zq81", "consumer-secret-Qw93"];

fn check(dir: &Path, content: &[u8]) -> (i32, String) {
    let path = dir.join("ctibridge.toml");
    std::fs::write(&path, content).unwrap();
    let out = Command::new(support::binary())
        .args(["config", "check", "--config"])
        .arg(&path)
        .env_remove("CTIBRIDGE_CONFIG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_base_configuration_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let base = BASE.replace("DATA", &dir.path().display().to_string());
    let (code, text) = check(dir.path(), base.as_bytes());
    assert_eq!(code, 0, "{text}");
}

#[test]
fn every_mistake_is_refused_with_the_key_named_and_no_secret_shown() {
    // (what is wrong, replace this, with this, the key the message must name)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("TOML syntax", "[server]", "[server", "TOML syntax error"),
        ("unknown key", "level = ", "levle = ", "log.levle"),
        (
            "wrong type",
            "listen = \"127.0.0.1:18443\"",
            "listen = 8443",
            "server.listen",
        ),
        (
            "bad address",
            "listen = \"127.0.0.1:18443\"",
            "listen = \"localhost\"",
            "server.listen",
        ),
        (
            "bad public URL",
            "public_url = \"http://127.0.0.1:18443/\"",
            "public_url = \"::\"",
            "server.public_url",
        ),
        (
            "bad log level",
            "level = \"info\"",
            "level = \"loud\"",
            "log.level",
        ),
        (
            "PBX URL scheme",
            "url = \"http://127.0.0.1:18444/\"",
            "url = \"ftp://pbx\"",
            "starface.url",
        ),
        (
            "empty admin password",
            "admin_password = \"admin-pass-Zq81\"",
            "admin_password = \"\"",
            "starface.admin_password",
        ),
        (
            "secret of the wrong type",
            "admin_password = \"admin-pass-Zq81\"",
            "admin_password = [\"admin-pass-Zq81\"]",
            "starface.admin_password",
        ),
        (
            "missing secret file",
            "client_secret = \"consumer-secret-Qw93\"",
            "client_secret_file = \"/nonexistent/ctibridge-secret\"",
            "client_secret_file",
        ),
        (
            "unknown country",
            "country = \"DE\"",
            "country = \"XX\"",
            "dialing.country",
        ),
        (
            "extension length",
            "internal_number_max_len = 4",
            "internal_number_max_len = 99",
            "dialing.internal_number_max_len",
        ),
        (
            "negative length",
            "internal_number_max_len = 4",
            "internal_number_max_len = -1",
            "dialing.internal_number_max_len",
        ),
        (
            "instance without a name",
            "name = \"Demo\"\n",
            "",
            "instance[0].name",
        ),
        (
            "org URL",
            "login_url = \"http://127.0.0.1:18445\"",
            "login_url = \"not a url\"",
            "instance[0].salesforce.login_url",
        ),
        (
            "API version",
            "api_version = \"62.0\"",
            "api_version = \"abc\"",
            "instance[0].salesforce.api_version",
        ),
        (
            "empty consumer secret",
            "client_secret = \"consumer-secret-Qw93\"",
            "client_secret = \"\"",
            "instance[0].salesforce.client_secret",
        ),
        (
            "missing client id",
            "client_id = \"demo-consumer-key\"\n",
            "",
            "client_id",
        ),
        (
            "missing PBX section",
            "[starface]",
            "[starfaces]",
            "starface",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let base = BASE.replace("DATA", &dir.path().display().to_string());
    for (what, from, to, key) in cases {
        assert!(base.contains(from), "{what}: the base has no `{from}`");
        let broken = base.replacen(from, to, 1);
        let (code, text) = check(dir.path(), broken.as_bytes());
        assert_eq!(code, 1, "{what}: exit code {code}: {text}");
        assert!(!text.contains("panicked"), "{what}: {text}");
        assert!(text.contains(key), "{what}: `{key}` not named in: {text}");
        for s in SECRETS {
            assert!(!text.contains(s), "{what}: the secret {s} is shown: {text}");
        }
    }
}

#[test]
fn duplicate_instances_empty_files_and_non_utf8_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = BASE.replace("DATA", &dir.path().display().to_string());
    let twice = format!(
        "{base}\n[[instance]]\nname = \"Demo\"\n[instance.salesforce]\nlogin_url = \"http://127.0.0.1:18446\"\nclient_id = \"a\"\nclient_secret = \"b\"\n"
    );
    let cases: [(&str, &[u8], &str); 4] = [
        ("duplicate instance name", twice.as_bytes(), "Demo"),
        ("empty file", b"", "server"),
        ("not UTF-8", b"\xff\xfe[\x00s\x00", "UTF-8"),
        ("binary junk", &[0u8, 1, 2, 3, 0x80, 0x90], "ctibridge.toml"),
    ];
    for (what, content, needle) in cases {
        let (code, text) = check(dir.path(), content);
        assert_eq!(code, 1, "{what}: exit code {code}: {text}");
        assert!(!text.contains("panicked"), "{what}: {text}");
        assert!(text.contains(needle), "{what}: `{needle}` not in: {text}");
    }
    // A file that does not exist is named.
    let out = Command::new(support::binary())
        .args(["config", "check", "--config", "/nonexistent/ctibridge.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ctibridge.toml"));
}
