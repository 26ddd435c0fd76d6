//! Property-style sweeps: every parser survives arbitrary input, and whatever it accepts
//! prints to a form it accepts again as an equal value.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use ctibridge_domain::{
    CallId, CallState, Direction, E164, Email, LoginUrl, ObjectType, SalesforceId, StarfaceLoginId,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Characters that make parsers stumble: separators, look-alikes, multi-byte, control.
const NASTY: &[char] = &[
    '+', '0', '1', '9', '@', '.', ':', '/', '-', ' ', '\t', '\n', '\0', '\u{7f}', 'A', 'z', 'ä',
    '٣', '０', '\u{200b}', '\u{feff}', '😀', '%', '#', '?', '[', ']', '(', ')', '"', '\\', '_',
];

fn random_input(rng: &mut ChaCha8Rng) -> String {
    let len = match rng.random_range(0..10) {
        0 => rng.random_range(200..5000),
        _ => rng.random_range(0..40),
    };
    (0..len)
        .map(|_| {
            if rng.random_bool(0.7) {
                NASTY[rng.random_range(0..NASTY.len())]
            } else {
                char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('x')
            }
        })
        .collect()
}

/// Mutations of valid inputs reach deeper branches than pure noise.
fn seeds() -> Vec<String> {
    [
        "+4930123456",
        "5b8a3f52-1c4e-4b7e-9a49-0f7c2d2e9a11",
        "Eva.Engel@Example.com",
        "001D000000IqhSL",
        "001D000000IqhSLIAZ",
        "https://acme.lightning.force.com/lightning/page/home",
        "http://127.0.0.1:8080",
        "acme--c.vf.force.com",
        "RINGING",
        "Contact",
        "1001",
    ]
    .map(String::from)
    .to_vec()
}

fn mutate(rng: &mut ChaCha8Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..3) {
            0 => chars.insert(at, NASTY[rng.random_range(0..NASTY.len())]),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = chars[at].to_ascii_uppercase(),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn check_all(input: &str) {
    if let Ok(n) = E164::parse(input) {
        assert_eq!(E164::parse(n.as_str()), Ok(n));
        assert_eq!(E164::from_u64(n.as_u64()), Ok(n));
        let _ = n.country_calling_code();
    }
    if let Ok(id) = CallId::parse(input) {
        assert_eq!(CallId::parse(id.as_str()), Ok(id));
    }
    let state = CallState::parse(input);
    assert_eq!(CallState::parse(&state.to_string()), state);
    if let Ok(d) = Direction::parse(input) {
        assert_eq!(Direction::parse(&d.to_string()), Ok(d));
    }
    if let Ok(e) = Email::parse(input) {
        assert_eq!(Email::parse(&e.to_string()).as_ref(), Ok(&e));
        assert_eq!(Email::parse(e.normalized()).as_ref(), Ok(&e));
    }
    if let Ok(id) = SalesforceId::parse(input) {
        assert_eq!(SalesforceId::parse(id.as_str()), Ok(id));
        assert_eq!(SalesforceId::parse(id.as_15()), Ok(id));
        assert_eq!(id.key_prefix().len(), 3);
    }
    if let Ok((url, _)) = LoginUrl::parse(input) {
        let (again, fixes) = LoginUrl::parse(url.as_str()).expect("a parsed URL parses again");
        assert_eq!(again, url);
        assert!(fixes.is_empty(), "{input:?} -> {url} -> {fixes:?}");
        let _ = url.token_url();
    }
    if let Ok(t) = ObjectType::parse(input) {
        assert_eq!(ObjectType::parse(&t.to_string()), Ok(t));
    }
    if let Ok(l) = StarfaceLoginId::parse(input) {
        assert_eq!(StarfaceLoginId::parse(l.as_str()), Ok(l));
    }
}

#[test]
fn parsers_never_panic_and_accepted_values_round_trip() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x_c71b_41d6);
    for _ in 0..10_000 {
        check_all(&random_input(&mut rng));
    }
    for seed in seeds() {
        check_all(&seed);
        for _ in 0..2_000 {
            check_all(&mutate(&mut rng, &seed));
        }
    }
}

#[test]
fn huge_inputs_are_rejected_without_echoing_them() {
    let huge = format!("+{}", "4".repeat(1_000_000));
    let msg = E164::parse(&huge).unwrap_err().to_string();
    assert!(msg.len() < 300, "{}", msg.len());
    let msg = LoginUrl::parse(&format!("https://{}", "a".repeat(1_000_000)))
        .unwrap_err()
        .to_string();
    assert!(msg.len() < 400, "{}", msg.len());
    assert!(Email::parse(&"a@b.c".repeat(100_000)).is_err());
    assert!(CallId::parse(&"x".repeat(1_000_000)).is_err());
}

#[test]
fn every_fifteen_character_id_extends_to_an_eighteen_character_id_that_checks() {
    // A second, independent formulation of the suffix: weighted sum per chunk.
    fn suffix(id15: &str) -> String {
        let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345".chars().collect();
        id15.as_bytes()
            .chunks(5)
            .map(|chunk| {
                let n: usize = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if c.is_ascii_uppercase() {
                            2usize.pow(i as u32)
                        } else {
                            0
                        }
                    })
                    .sum();
                alphabet[n]
            })
            .collect()
    }
    let alnum: Vec<char> = ('0'..='9').chain('a'..='z').chain('A'..='Z').collect();
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    for _ in 0..5_000 {
        let id15: String = (0..15)
            .map(|_| alnum[rng.random_range(0..alnum.len())])
            .collect();
        let id = SalesforceId::parse(&id15).unwrap();
        assert_eq!(id.as_str(), format!("{id15}{}", suffix(&id15)));
        // Flipping the case of any letter in the body breaks the checksum.
        let pos = rng.random_range(0..15);
        let mut mangled: Vec<char> = id.as_str().chars().collect();
        if mangled[pos].is_ascii_alphabetic() {
            mangled[pos] = if mangled[pos].is_ascii_uppercase() {
                mangled[pos].to_ascii_lowercase()
            } else {
                mangled[pos].to_ascii_uppercase()
            };
            let mangled: String = mangled.into_iter().collect();
            assert!(SalesforceId::parse(&mangled).is_err(), "{mangled}");
        }
    }
}

#[test]
fn serde_reads_through_parse_and_writes_the_display_form() {
    let n: E164 = serde_json::from_str(r#""+4930123456""#).unwrap();
    assert_eq!(serde_json::to_string(&n).unwrap(), r#""+4930123456""#);
    let err = serde_json::from_str::<E164>(r#""030 123456""#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("must start with `+`"), "{err}");

    let id: SalesforceId = serde_json::from_str(r#""001D000000IqhSL""#).unwrap();
    assert_eq!(
        serde_json::to_string(&id).unwrap(),
        r#""001D000000IqhSLIAZ""#
    );

    let url: LoginUrl = serde_json::from_str(r#""https://acme.lightning.force.com/x""#).unwrap();
    assert_eq!(
        serde_json::to_string(&url).unwrap(),
        r#""https://acme.my.salesforce.com""#
    );
    assert!(serde_json::from_str::<LoginUrl>(r#""https://example.com""#).is_err());

    let email: Email = serde_json::from_str(r#"" Eva.Engel@Example.com ""#).unwrap();
    assert_eq!(
        serde_json::to_string(&email).unwrap(),
        r#""Eva.Engel@Example.com""#
    );

    let state: CallState = serde_json::from_str(r#""""#).unwrap();
    assert_eq!(state, CallState::Empty);
    assert_eq!(
        serde_json::to_string(&CallState::Ringing).unwrap(),
        r#""RINGING""#
    );

    let d: Direction = serde_json::from_str(r#""outbound""#).unwrap();
    assert_eq!(d, Direction::Outbound);
    assert!(serde_json::from_str::<CallId>(r#""""#).is_err());
    assert!(serde_json::from_str::<StarfaceLoginId>("42").is_err());
}
