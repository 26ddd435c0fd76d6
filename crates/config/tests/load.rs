//! Loading configurations through the public API: the file, the environment, secrets from
//! files, and every kind of mistake an admin makes.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};

use ctibridge_config::{
    Config, ConfigError, ConfigErrors, ConfigWarning, Loaded, LogLevel, Origin, UserRef,
};
use ctibridge_domain::LoginUrl;
use pretty_assertions::assert_eq;
use secrecy::ExposeSecret;

const MINIMAL: &str = r#"
[server]
public_url = "https://ctibridge.example.com"

[starface]
url = "https://pbx.example.com"
admin_login = "0001"
admin_password = "pbx-password"

[[instance]]
name = "Sales"
groups = ["Sales"]

[instance.salesforce]
login_url = "https://acme.my.salesforce.com"
client_id = "consumer-key"
client_secret = "consumer-secret"
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        path
    }

    fn load(&self, toml: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
        let path = self.file("ctibridge.toml", toml);
        Config::load(Some(&path), env_of(env))
    }
}

fn env_of(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
    Fixture::new().load(toml, env)
}

fn errors(toml: &str, env: &[(&str, &str)]) -> Vec<ConfigError> {
    match load(toml, env) {
        Ok(loaded) => panic!("expected errors, loaded {:?}", loaded.config),
        Err(errors) => errors.into_vec(),
    }
}

fn keys(errors: &[ConfigError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| e.key().unwrap_or("-").to_owned())
        .collect()
}

fn line_of(origin: &Origin) -> usize {
    match origin {
        Origin::File { line, .. } => *line,
        other => panic!("expected a file origin, got {other}"),
    }
}

#[test]
fn minimal_file_loads_with_documented_defaults() {
    let loaded = load(MINIMAL, &[]).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let c = loaded.config;
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(
        c.server.public_url.as_str(),
        "https://ctibridge.example.com/"
    );
    assert_eq!(c.server.data_dir, PathBuf::from("/var/lib/ctibridge"));
    assert!(c.server.tls.is_none());
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.starface.admin_login.as_str(), "0001");
    assert_eq!(c.starface.admin_password.expose_secret(), "pbx-password");
    assert_eq!(c.dialing.country.as_str(), "DE");
    assert_eq!(c.dialing.outside_line_prefix, "0");
    assert_eq!(c.dialing.internal_number_max_len, 4);
    let i = &c.instances[0];
    assert_eq!(i.name, "Sales");
    assert_eq!(i.description, "");
    assert!(i.enabled);
    assert!(!i.import_contacts);
    assert!(i.users.is_empty());
    assert_eq!(i.groups, vec!["Sales".to_owned()]);
    assert_eq!(
        i.salesforce.login_url.as_str(),
        "https://acme.my.salesforce.com"
    );
    assert_eq!(i.salesforce.client_id, "consumer-key");
    assert_eq!(
        i.salesforce.client_secret.expose_secret(),
        "consumer-secret"
    );
    assert_eq!(i.salesforce.api_version.to_string(), "62.0");
}

#[test]
fn example_loads_unchanged_without_warnings() {
    let loaded = load(ctibridge_config::example(), &[]).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let c = loaded.config;
    assert_eq!(c.instances.len(), 1);
    assert_eq!(
        c.instances[0]
            .users
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["ben.utzer@example.com", "1002"]
    );
    assert!(matches!(c.instances[0].users[1], UserRef::LoginId(_)));
}

#[test]
fn example_mentions_every_key() {
    let example = ctibridge_config::example();
    for key in [
        "listen",
        "public_url",
        "data_dir",
        "tls_cert",
        "tls_key",
        "level",
        "url",
        "admin_login",
        "admin_password",
        "admin_password_file",
        "country",
        "outside_line_prefix",
        "internal_number_max_len",
        "name",
        "description",
        "enabled",
        "users",
        "groups",
        "import_contacts",
        "sync_interval_secs",
        "log_calls",
        "missed_group_calls",
        "unknown_caller_object",
        "login_url",
        "client_id",
        "client_secret",
        "client_secret_file",
        "api_version",
    ] {
        assert!(
            example.contains(&format!("\n{key} = ")) || example.contains(&format!("# {key} = ")),
            "example lacks {key}"
        );
    }
}

#[test]
fn example_with_the_file_alternatives_uncommented_reads_the_secret_files() {
    let fx = Fixture::new();
    let password = fx.file("pw", "file-password\n");
    let secret = fx.file("secret", "file-secret\r\n");
    let cert = fx.file("cert.pem", "cert");
    let key = fx.file("key.pem", "key");
    let text = ctibridge_config::example()
        .replace("admin_password = \"change-me\"\n", "")
        .replace("client_secret = \"example-consumer-secret\"\n", "")
        .replace(
            "# admin_password_file = \"/run/secrets/starface_admin_password\"",
            &format!("admin_password_file = {:?}", password.display().to_string()),
        )
        .replace(
            "# client_secret_file = \"/run/secrets/salesforce_client_secret\"",
            &format!("client_secret_file = {:?}", secret.display().to_string()),
        )
        .replace(
            "# tls_cert = \"/etc/ctibridge/tls/cert.pem\"",
            &format!("tls_cert = {:?}", cert.display().to_string()),
        )
        .replace(
            "# tls_key = \"/etc/ctibridge/tls/key.pem\"",
            &format!("tls_key = {:?}", key.display().to_string()),
        );
    let loaded = fx.load(&text, &[]).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let c = loaded.config;
    assert_eq!(c.starface.admin_password.expose_secret(), "file-password");
    assert_eq!(
        c.instances[0].salesforce.client_secret.expose_secret(),
        "file-secret"
    );
    let tls = c.server.tls.unwrap();
    assert_eq!((tls.cert, tls.key), (cert, key));
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let fx = Fixture::new();
    let path = fx.file("bad.toml", "[server]\nlisten = \"0.0.0.0:8443\nx = 1\n");
    let errs = Config::load(Some(&path), env_of(&[]))
        .unwrap_err()
        .into_vec();
    assert_eq!(errs.len(), 1);
    match &errs[0] {
        ConfigError::Syntax {
            path: p,
            line,
            column,
            ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*line, 2);
            assert!(*column > 1, "column {column}");
        }
        other => panic!("{other:?}"),
    }
    assert!(errs[0].to_string().contains("bad.toml:2:"), "{}", errs[0]);
}

#[test]
fn duplicate_key_is_a_syntax_error_on_its_line() {
    let text = MINIMAL.replace("[starface]\n", "[starface]\nadmin_login = \"0002\"\n");
    let errs = errors(&text, &[]);
    assert!(
        matches!(&errs[..], [ConfigError::Syntax { line, .. }] if *line == 8),
        "{errs:?}"
    );
}

#[test]
fn missing_file_is_named() {
    let path = Path::new("/nonexistent/ctibridge.toml");
    let errs = Config::load(Some(path), env_of(&[]))
        .unwrap_err()
        .into_vec();
    assert!(matches!(&errs[..], [ConfigError::ReadFile { path: p, .. }] if p == path));
    assert!(errs[0].to_string().contains("/nonexistent/ctibridge.toml"));
}

#[test]
fn wrong_type_names_key_and_shows_the_quoted_form() {
    let text = format!("{MINIMAL}\n[dialing]\noutside_line_prefix = 0\n");
    let errs = errors(&text, &[]);
    match &errs[..] {
        [
            ConfigError::WrongType {
                key,
                expected,
                found,
                fix,
                origin,
            },
        ] => {
            assert_eq!(key, "dialing.outside_line_prefix");
            assert_eq!((*expected, *found), ("a string", "an integer"));
            assert!(fix.contains("outside_line_prefix = \"0\""), "{fix}");
            assert_eq!(line_of(origin), 20);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn single_bracket_instance_is_told_to_use_double_brackets() {
    let text = MINIMAL.replace("[[instance]]", "[instance]");
    let errs = errors(&text, &[]);
    match &errs[..] {
        [ConfigError::WrongType { key, fix, .. }] => {
            assert_eq!(key, "instance");
            assert!(fix.contains("[[instance]]"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    let text = MINIMAL
        .replace(
            "public_url",
            "lisen = \"0.0.0.0:1\"\nlevel = \"debug\"\npublic_url",
        )
        .replace(
            "[starface]",
            "[starface]\nadmin-password-file = \"x\"\ncolour = \"red\"",
        )
        + "\n[sever]\nx = 1\n";
    let errs = errors(&text, &[]);
    let found: Vec<(String, Option<String>)> = errs
        .iter()
        .map(|e| match e {
            ConfigError::UnknownKey {
                key, suggestion, ..
            } => (key.clone(), suggestion.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("sever".to_owned(), Some("server".to_owned())),
            ("server.lisen".to_owned(), Some("server.listen".to_owned())),
            ("server.level".to_owned(), Some("log.level".to_owned())),
            (
                "starface.admin-password-file".to_owned(),
                Some("starface.admin_password_file".to_owned())
            ),
            ("starface.colour".to_owned(), None),
        ]
    );
    assert!(errs[1].to_string().contains("did you mean server.listen?"));
}

#[test]
fn client_id_under_instance_points_to_the_salesforce_section() {
    let text = MINIMAL.replace(
        "groups = [\"Sales\"]",
        "groups = [\"Sales\"]\nclient_id = \"x\"",
    );
    let errs = errors(&text, &[]);
    assert!(
        matches!(&errs[..], [ConfigError::UnknownKey { key, suggestion: Some(s), .. }]
            if key == "instance[0].client_id" && s == "instance[0].salesforce.client_id"),
        "{errs:?}"
    );
}

#[test]
fn missing_sections_are_one_error_each() {
    let errs = errors("[log]\nlevel = \"debug\"\n", &[]);
    assert_eq!(keys(&errs), vec!["server", "starface"]);
    assert!(
        errs.iter()
            .all(|e| matches!(e, ConfigError::Missing { .. }))
    );
    assert!(
        errs[1].to_string().contains("add a [starface] section"),
        "{}",
        errs[1]
    );
}

#[test]
fn missing_required_keys_name_the_key_and_the_variable() {
    let text = MINIMAL
        .replace("public_url = \"https://ctibridge.example.com\"", "")
        .replace("name = \"Sales\"", "")
        .replace("client_id = \"consumer-key\"", "");
    let errs = errors(&text, &[]);
    assert_eq!(
        keys(&errs),
        vec![
            "server.public_url",
            "instance[0].name",
            "instance[0].salesforce.client_id"
        ]
    );
    let text = errs[0].to_string();
    assert!(text.contains("CTIBRIDGE__SERVER__PUBLIC_URL"), "{text}");
    assert!(
        errs[2]
            .to_string()
            .contains("CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_ID")
    );
}

#[test]
fn missing_salesforce_section_of_an_instance_is_named() {
    let text = MINIMAL.split("[instance.salesforce]").next().unwrap();
    let errs = errors(text, &[]);
    assert_eq!(keys(&errs), vec!["instance[0].salesforce"]);
}

#[test]
fn every_bad_value_is_reported_at_once_with_its_key() {
    let text = r#"
[server]
listen = "0.0.0.0"
public_url = "ftp://ctibridge.example.com"
data_dir = ""

[log]
level = "verbose"

[starface]
url = "pbx.example.com"
admin_login = "ad min"
admin_password = ""

[dialing]
country = "Germany"
outside_line_prefix = "0-"
internal_number_max_len = 20

[[instance]]
name = "Sales"
users = ["not an address@", "ben@example"]

[instance.salesforce]
login_url = "https://login.salesforce.com"
client_id = "key with space"
client_secret = "s"
api_version = "latest"

[[instance]]
name = "sales"
enabled = "yes"

[instance.salesforce]
login_url = "https://example.org"
client_id = "k"
client_secret = "s"
"#;
    let errs = errors(text, &[]);
    assert_eq!(
        keys(&errs),
        vec![
            "server.listen",
            "server.public_url",
            "server.data_dir",
            "log.level",
            "starface.url",
            "starface.admin_login",
            "starface.admin_password",
            "dialing.country",
            "dialing.outside_line_prefix",
            "dialing.internal_number_max_len",
            "instance[0].users[0]",
            "instance[0].users[1]",
            "instance[0].salesforce.login_url",
            "instance[0].salesforce.client_id",
            "instance[0].salesforce.api_version",
            "instance[1].name",
            "instance[1].enabled",
            "instance[1].salesforce.login_url",
        ]
    );
    let listen = errs[0].to_string();
    assert!(
        listen.contains(":3)") && listen.contains("add the port"),
        "{listen}"
    );
    let dup = errs[15].to_string();
    assert!(dup.contains("already the name of instance[0]"), "{dup}");
    let generic = errs[12].to_string();
    assert!(generic.contains("My Domain"), "{generic}");
}

#[test]
fn country_without_numbering_rules_is_named() {
    let text = format!("{MINIMAL}\n[dialing]\ncountry = \"zz\"\ninternal_number_max_len = 0\n");
    let errs = errors(&text, &[]);
    assert_eq!(keys(&errs), vec!["dialing.country"]);
    assert!(
        errs[0]
            .to_string()
            .contains("no telephone numbering rules are known for \"ZZ\""),
        "{}",
        errs[0]
    );
}

#[test]
fn dialing_rules_reach_the_phone_crate_unchanged() {
    let text = format!(
        "{MINIMAL}\n[dialing]\ncountry = \"at\"\noutside_line_prefix = \"\"\ninternal_number_max_len = 3\n"
    );
    let rules = load(&text, &[]).unwrap().config.dialing.rules();
    assert_eq!(
        rules,
        ctibridge_phone::DialingRules {
            country: "AT".to_owned(),
            outside_line_prefix: String::new(),
            internal_number_max_len: 3,
        }
    );
    assert_eq!(rules.validate(), Ok(()));
}

#[test]
fn enabled_instance_without_users_or_groups_is_an_error_but_a_disabled_one_is_not() {
    let text = MINIMAL.replace("groups = [\"Sales\"]", "groups = []");
    let errs = errors(&text, &[]);
    assert_eq!(keys(&errs), vec!["instance[0].users"]);
    assert!(
        errs[0]
            .to_string()
            .contains("nobody would use this instance")
    );

    let disabled = text.replace("groups = []", "groups = []\nenabled = false");
    assert!(!load(&disabled, &[]).unwrap().config.instances[0].enabled);
}

#[test]
fn sync_interval_defaults_to_a_minute_and_takes_seconds_from_file_or_environment() {
    let c = load(MINIMAL, &[]).unwrap().config;
    assert_eq!(
        c.instances[0].sync_interval,
        std::time::Duration::from_secs(60)
    );
    let toml = MINIMAL.replace(
        "groups = [\"Sales\"]",
        "groups = [\"Sales\"]\nsync_interval_secs = 300",
    );
    let c = load(&toml, &[]).unwrap().config;
    assert_eq!(
        c.instances[0].sync_interval,
        std::time::Duration::from_secs(300)
    );
    let c = load(
        &toml,
        &[("CTIBRIDGE__INSTANCE__0__SYNC_INTERVAL_SECS", "5")],
    )
    .unwrap()
    .config;
    assert_eq!(
        c.instances[0].sync_interval,
        std::time::Duration::from_secs(5)
    );
}

#[test]
fn sync_interval_outside_one_second_to_a_day_is_named_with_its_range() {
    for bad in ["0", "-5", "86401"] {
        let toml = MINIMAL.replace(
            "groups = [\"Sales\"]",
            &format!("groups = [\"Sales\"]\nsync_interval_secs = {bad}"),
        );
        let errs = errors(&toml, &[]);
        assert_eq!(keys(&errs), vec!["instance[0].sync_interval_secs"], "{bad}");
        assert!(
            errs[0].to_string().contains("between 1 and 86400"),
            "{}",
            errs[0]
        );
    }
}

#[test]
fn non_string_list_entries_are_named_by_index() {
    let text = MINIMAL.replace("groups = [\"Sales\"]", "groups = [\"Sales\", 600]");
    assert_eq!(keys(&errors(&text, &[])), vec!["instance[0].groups[1]"]);
}

#[test]
fn pasted_whitespace_around_consumer_key_and_secret_is_trimmed_with_a_warning() {
    let text = MINIMAL
        .replace("\"consumer-key\"", "\" consumer-key\\n\"")
        .replace("\"consumer-secret\"", "\"consumer-secret \"");
    let loaded = load(&text, &[]).unwrap();
    let sf = &loaded.config.instances[0].salesforce;
    assert_eq!(sf.client_id, "consumer-key");
    assert_eq!(sf.client_secret.expose_secret(), "consumer-secret");
    let warned: Vec<&str> = loaded
        .warnings
        .iter()
        .map(|w| match w {
            ConfigWarning::Trimmed { key, .. } => key.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        warned,
        vec![
            "instance[0].salesforce.client_id",
            "instance[0].salesforce.client_secret"
        ]
    );
    for w in &loaded.warnings {
        assert!(!w.to_string().contains("consumer-secret"), "{w}");
    }
}

#[test]
fn admin_password_keeps_its_spaces_but_warns() {
    let text = MINIMAL.replace("\"pbx-password\"", "\" pbx password \"");
    let loaded = load(&text, &[]).unwrap();
    assert_eq!(
        loaded.config.starface.admin_password.expose_secret(),
        " pbx password "
    );
    assert!(matches!(
        &loaded.warnings[..],
        [ConfigWarning::SecretHasOuterWhitespace { key, .. }] if key == "starface.admin_password"
    ));
}

#[test]
fn lightning_login_url_is_converted_with_a_warning() {
    let text = MINIMAL.replace(
        "https://acme.my.salesforce.com",
        "https://acme.lightning.force.com/lightning/page/home",
    );
    let loaded = load(&text, &[]).unwrap();
    assert_eq!(
        loaded.config.instances[0].salesforce.login_url.as_str(),
        "https://acme.my.salesforce.com"
    );
    match &loaded.warnings[..] {
        [
            ConfigWarning::LoginUrlFixed {
                key,
                to,
                changes,
                origin,
                ..
            },
        ] => {
            assert_eq!(key, "instance[0].salesforce.login_url");
            assert_eq!(to, "https://acme.my.salesforce.com");
            assert_eq!(changes.len(), 2, "{changes:?}");
            assert_eq!(line_of(origin), 15);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn plain_http_public_url_warns_except_on_loopback() {
    let text = MINIMAL.replace(
        "https://ctibridge.example.com",
        "http://ctibridge.example.com",
    );
    let loaded = load(&text, &[]).unwrap();
    assert!(matches!(
        &loaded.warnings[..],
        [ConfigWarning::PlainHttpPublicUrl { .. }]
    ));
    let text = MINIMAL.replace("https://ctibridge.example.com", "http://127.0.0.1:8080/cti");
    let loaded = load(&text, &[]).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    assert_eq!(
        loaded.config.server.public_url.as_str(),
        "http://127.0.0.1:8080/cti/"
    );
}

#[test]
fn no_instance_is_a_warning() {
    let text = MINIMAL.split("[[instance]]").next().unwrap();
    let loaded = load(text, &[]).unwrap();
    assert!(loaded.config.instances.is_empty());
    assert_eq!(loaded.warnings, vec![ConfigWarning::NoInstance]);
}

#[test]
fn environment_overrides_win_over_the_file() {
    let loaded = load(
        MINIMAL,
        &[
            ("CTIBRIDGE__SERVER__LISTEN", "127.0.0.1:9000"),
            ("CTIBRIDGE__STARFACE__ADMIN_PASSWORD", "from-env"),
            ("CTIBRIDGE__LOG__LEVEL", "DEBUG"),
            ("CTIBRIDGE__DIALING__OUTSIDE_LINE_PREFIX", "0"),
            ("CTIBRIDGE__DIALING__INTERNAL_NUMBER_MAX_LEN", "3"),
            ("CTIBRIDGE__INSTANCE__0__IMPORT_CONTACTS", "true"),
            (
                "CTIBRIDGE__INSTANCE__0__USERS",
                "ben.utzer@example.com, 1002",
            ),
            ("CTIBRIDGE__INSTANCE__0__GROUPS", r#"["Sales", "Support"]"#),
            (
                "CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_SECRET",
                "env-secret",
            ),
            ("PATH", "/usr/bin"),
            ("CTIBRIDGE_CONFIG", "/etc/ctibridge.toml"),
        ],
    )
    .unwrap();
    let c = loaded.config;
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(c.starface.admin_password.expose_secret(), "from-env");
    assert_eq!(c.log.level, LogLevel::Debug);
    assert_eq!(c.dialing.outside_line_prefix, "0");
    assert_eq!(c.dialing.internal_number_max_len, 3);
    let i = &c.instances[0];
    assert!(i.import_contacts);
    assert_eq!(i.users.len(), 2);
    assert_eq!(i.groups, vec!["Sales".to_owned(), "Support".to_owned()]);
    assert_eq!(i.salesforce.client_secret.expose_secret(), "env-secret");
}

#[test]
fn environment_alone_can_configure_everything() {
    let env = [
        ("CTIBRIDGE__SERVER__PUBLIC_URL", "https://cti.example.com"),
        ("CTIBRIDGE__STARFACE__URL", "https://pbx.example.com"),
        ("CTIBRIDGE__STARFACE__ADMIN_LOGIN", "0001"),
        ("CTIBRIDGE__STARFACE__ADMIN_PASSWORD", "pw"),
        ("CTIBRIDGE__INSTANCE__0__NAME", "A"),
        ("CTIBRIDGE__INSTANCE__0__GROUPS", "Sales"),
        (
            "CTIBRIDGE__INSTANCE__0__SALESFORCE__LOGIN_URL",
            "https://a.my.salesforce.com",
        ),
        ("CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_ID", "id"),
        ("CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_SECRET", "s"),
    ];
    let c = Config::load(None, env_of(&env)).unwrap().config;
    assert_eq!(c.instances[0].name, "A");
    assert_eq!(c.server.public_url.as_str(), "https://cti.example.com/");
}

#[test]
fn environment_index_past_the_file_adds_an_instance_in_numeric_order() {
    let mut env = Vec::new();
    for i in 1..=10 {
        env.push((
            format!("CTIBRIDGE__INSTANCE__{i}__NAME"),
            format!("org {i}"),
        ));
        env.push((
            format!("CTIBRIDGE__INSTANCE__{i}__USERS"),
            "1001".to_owned(),
        ));
        env.push((
            format!("CTIBRIDGE__INSTANCE__{i}__SALESFORCE__LOGIN_URL"),
            format!("https://org{i}.my.salesforce.com"),
        ));
        env.push((
            format!("CTIBRIDGE__INSTANCE__{i}__SALESFORCE__CLIENT_ID"),
            "id".to_owned(),
        ));
        env.push((
            format!("CTIBRIDGE__INSTANCE__{i}__SALESFORCE__CLIENT_SECRET"),
            "s".to_owned(),
        ));
    }
    env.reverse();
    let fx = Fixture::new();
    let path = fx.file("c.toml", MINIMAL);
    let c = Config::load(Some(&path), env).unwrap().config;
    let names: Vec<&str> = c.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names[0], "Sales");
    assert_eq!(names[1], "org 1");
    assert_eq!(names[10], "org 10");
}

#[test]
fn environment_gap_in_instance_indexes_is_an_error() {
    let errs = errors(MINIMAL, &[("CTIBRIDGE__INSTANCE__2__NAME", "x")]);
    let gap = errs
        .iter()
        .find(|e| matches!(e, ConfigError::BadEnvVar { .. }))
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(
        gap.to_string().contains("CTIBRIDGE__INSTANCE__2__NAME"),
        "{gap}"
    );
    assert!(gap.to_string().contains("instance[1]"), "{gap}");
}

#[test]
fn environment_mistakes_name_the_variable() {
    let errs = errors(
        MINIMAL,
        &[
            ("CTIBRIDGE__SERVER__LISTN", "127.0.0.1:1"),
            ("CTIBRIDGE__INSTANCE__NAME", "x"),
            ("CTIBRIDGE__SERVER____LISTEN", "x"),
            ("CTIBRIDGE__SERVER___LISTEN", "x"),
            ("CTIBRIDGE__SERVER__LISTEN__PORT", "1"),
            ("CTIBRIDGE__DIALING__INTERNAL_NUMBER_MAX_LEN", "four"),
            ("CTIBRIDGE__INSTANCE__0__ENABLED", "yes"),
        ],
    );
    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    for needle in [
        "environment variable CTIBRIDGE__SERVER__LISTN): unknown key; did you mean server.listen?",
        "CTIBRIDGE__INSTANCE__NAME: instance is a list",
        "CTIBRIDGE__SERVER____LISTEN: has an empty key",
        "server._listen (environment variable CTIBRIDGE__SERVER___LISTEN): unknown key; did you mean server.listen?",
        "CTIBRIDGE__SERVER__LISTEN__PORT",
        "\"four\" is not a whole number",
        "\"yes\" is neither true nor false",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in\n{all}");
    }
}

#[test]
fn secret_file_is_read_and_its_trailing_newline_dropped() {
    let fx = Fixture::new();
    let pw = fx.file("pw", "s3cret\n\n");
    let text = MINIMAL.replace(
        "admin_password = \"pbx-password\"",
        &format!("admin_password_file = {:?}", pw.display().to_string()),
    );
    let loaded = fx.load(&text, &[]).unwrap();
    assert_eq!(
        loaded.config.starface.admin_password.expose_secret(),
        "s3cret"
    );
}

#[test]
fn secret_file_from_the_environment_replaces_nothing_and_is_read() {
    let fx = Fixture::new();
    let secret = fx.file("secret", "env-file-secret\n");
    let text = MINIMAL.replace("client_secret = \"consumer-secret\"", "");
    let loaded = fx
        .load(
            &text,
            &[(
                "CTIBRIDGE__INSTANCE__0__SALESFORCE__CLIENT_SECRET_FILE",
                secret.to_str().unwrap(),
            )],
        )
        .unwrap();
    assert_eq!(
        loaded.config.instances[0]
            .salesforce
            .client_secret
            .expose_secret(),
        "env-file-secret"
    );
}

#[test]
fn missing_or_empty_secret_file_is_named() {
    let fx = Fixture::new();
    let empty = fx.file("empty", "\n");
    let text = MINIMAL
        .replace(
            "admin_password = \"pbx-password\"",
            "admin_password_file = \"/nonexistent/pw\"",
        )
        .replace(
            "client_secret = \"consumer-secret\"",
            &format!("client_secret_file = {:?}", empty.display().to_string()),
        );
    let errs = fx.load(&text, &[]).unwrap_err().into_vec();
    match &errs[..] {
        [
            ConfigError::SecretFile { key, path, .. },
            ConfigError::Invalid {
                key: k2, problem, ..
            },
        ] => {
            assert_eq!(key, "starface.admin_password_file");
            assert_eq!(path, Path::new("/nonexistent/pw"));
            assert!(errs[0].to_string().contains("/nonexistent/pw"));
            assert_eq!(k2, "instance[0].salesforce.client_secret_file");
            assert_eq!(problem, "the file is empty");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn both_secret_and_secret_file_is_a_conflict() {
    let text = MINIMAL.replace(
        "admin_password = \"pbx-password\"",
        "admin_password = \"a\"\nadmin_password_file = \"/x\"",
    );
    let errs = errors(&text, &[]);
    match &errs[..] {
        [ConfigError::Conflict { key, other, .. }] => {
            assert_eq!(key, "starface.admin_password");
            assert_eq!(other, "starface.admin_password_file");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn neither_secret_nor_secret_file_names_both_keys() {
    let text = MINIMAL.replace("admin_password = \"pbx-password\"", "");
    let errs = errors(&text, &[]);
    let text = errs[0].to_string();
    assert_eq!(keys(&errs), vec!["starface.admin_password"]);
    assert!(
        text.contains("starface.admin_password or starface.admin_password_file"),
        "{text}"
    );
}

#[test]
fn tls_needs_both_files_and_they_must_exist() {
    let text = MINIMAL.replace(
        "[server]\n",
        "[server]\ntls_cert = \"/nonexistent/cert.pem\"\n",
    );
    assert_eq!(keys(&errors(&text, &[])), vec!["server.tls_key"]);
    let text = text.replace(
        "[server]\n",
        "[server]\ntls_key = \"/nonexistent/key.pem\"\n",
    );
    let errs = errors(&text, &[]);
    assert_eq!(keys(&errs), vec!["server.tls_cert", "server.tls_key"]);
    assert!(errs[0].to_string().contains("/nonexistent/cert.pem"));
}

#[test]
fn errors_display_as_a_numbered_list() {
    let errs = load("[server]\n", &[]).unwrap_err();
    let text = errs.to_string();
    assert!(
        text.starts_with("the configuration has 2 problems:\n"),
        "{text}"
    );
    assert!(text.contains("\n  1. server.public_url: missing"), "{text}");
    assert!(text.contains("\n  2. starface: missing"), "{text}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let loaded = load(MINIMAL, &[]).unwrap();
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("pbx-password"), "{debug}");
    assert!(!debug.contains("consumer-secret"), "{debug}");
    assert!(debug.contains("consumer-key"));
}

#[test]
fn error_messages_never_show_secrets() {
    let text = MINIMAL
        .replace(
            "\"pbx-password\"",
            "\"pbx-password\"\nadmin_password_file = \"/x\"",
        )
        .replace("client_secret = \"consumer-secret\"", "client_secret = 42");
    let errs = load(&text, &[]).unwrap_err().to_string();
    assert!(!errs.contains("pbx-password"), "{errs}");
    assert!(!errs.contains("42"), "{errs}");
}

#[test]
fn demo_config_uses_the_shared_demo_data() {
    let (login, _) = LoginUrl::parse("http://127.0.0.1:4000").unwrap();
    let c = Config::demo(
        Path::new("/tmp/demo"),
        "0.0.0.0:8080".parse().unwrap(),
        "http://127.0.0.1:4001/".parse().unwrap(),
        login,
    );
    assert_eq!(c.server.public_url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(c.starface.admin_login.as_str(), "0001");
    assert_eq!(c.starface.admin_password.expose_secret(), "admin-pass");
    assert_eq!(c.dialing.country.as_str(), "DE");
    let sf = &c.instances[0].salesforce;
    assert_eq!(sf.client_id, "demo-consumer-key");
    assert_eq!(sf.client_secret.expose_secret(), "demo-consumer-secret");
    assert_eq!(sf.login_url.as_str(), "http://127.0.0.1:4000");
    assert_eq!(c.instances[0].groups, vec!["Sales", "Support"]);
    assert_eq!(c.instances[0].users.len(), 1);
}

/// A tiny deterministic generator: mutations of the example must never panic the loader.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

#[test]
fn mangled_files_and_environments_never_panic() {
    let fx = Fixture::new();
    let base: Vec<char> = ctibridge_config::example().chars().collect();
    let junk = [
        '"', '[', ']', '=', '\n', '#', ',', '{', '}', '\'', '\\', '0', ' ', 'ü', '\0',
    ];
    let mut rng = Lcg(7);
    for round in 0..300 {
        let mut text = base.clone();
        for _ in 0..(1 + rng.next() % 4) {
            let at = rng.next() % text.len();
            match rng.next() % 3 {
                0 => {
                    text.remove(at);
                }
                1 => text.insert(at, junk[rng.next() % junk.len()]),
                _ => text[at] = junk[rng.next() % junk.len()],
            }
        }
        let text: String = text.into_iter().collect();
        let path = fx.file(&format!("m{round}.toml"), &text);
        let env = [
            (
                "CTIBRIDGE__INSTANCE__0__USERS".to_owned(),
                "[1, \"a\"".to_owned(),
            ),
            (
                format!("CTIBRIDGE__{}", "X__".repeat(round % 5)),
                "v".to_owned(),
            ),
            (
                "CTIBRIDGE__INSTANCE__99999999999999999999__NAME".to_owned(),
                "n".to_owned(),
            ),
            (
                "CTIBRIDGE__INSTANCE__100000000__NAME".to_owned(),
                "n".to_owned(),
            ),
        ];
        let _ = Config::load(Some(&path), env.iter().take(round % 5).cloned());
    }
    for text in [
        "",
        "\u{feff}",
        "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "[server]\nlisten = 99999999999999999999999",
        "[[instance]]\n[[instance]]\n[[instance.salesforce]]",
        "instance = 3",
        "server = []",
        "[server.listen]",
    ] {
        let _ = load(text, &[]);
    }
}

#[test]
fn call_logging_defaults_to_inbound_outbound_missed_and_one_task_per_missed_group_call() {
    let c = load(MINIMAL, &[]).unwrap().config;
    let calls = &c.instances[0].calls;
    assert!(calls.log_inbound && calls.log_outbound && calls.log_missed);
    assert!(!calls.log_internal);
    assert_eq!(
        calls.missed_group_calls,
        ctibridge_config::MissedGroupCalls::Group
    );
    assert_eq!(calls.unknown_caller_object.as_str(), "Lead");

    let toml = MINIMAL.replace(
        "groups = [\"Sales\"]",
        "groups = [\"Sales\"]\nlog_calls = [\"Internal\", \"outbound\"]\nmissed_group_calls = \"each\"\nunknown_caller_object = \"Contact\"",
    );
    let c = load(&toml, &[]).unwrap().config;
    let calls = &c.instances[0].calls;
    assert!(calls.log_internal && calls.log_outbound);
    assert!(!calls.log_inbound && !calls.log_missed);
    assert_eq!(
        calls.missed_group_calls,
        ctibridge_config::MissedGroupCalls::Each
    );
    assert_eq!(calls.unknown_caller_object.as_str(), "Contact");
}

#[test]
fn unknown_call_kinds_group_modes_and_objects_are_named() {
    let toml = MINIMAL.replace(
        "groups = [\"Sales\"]",
        "groups = [\"Sales\"]\nlog_calls = [\"inbound\", \"voicemail\"]\nmissed_group_calls = \"all\"\nunknown_caller_object = \"Account\"",
    );
    let errs = errors(&toml, &[]);
    assert_eq!(
        keys(&errs),
        vec![
            "instance[0].log_calls[1]",
            "instance[0].missed_group_calls",
            "instance[0].unknown_caller_object"
        ]
    );
    assert!(errs[0].to_string().contains("voicemail"));
}
