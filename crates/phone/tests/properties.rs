//! Property-style checks of the normaliser over arbitrary input, and of the domain's
//! country-code table against libphonenumber's metadata.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use ctibridge_domain::E164;
use ctibridge_phone::{DialingRules, LibPhoneNormaliser, Normaliser, Number, NumberContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rlibphonenumber::{PhoneNumberFormat, PhoneNumberUtil};

const ALPHABET: &[char] = &[
    '0', '0', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '(', ')', '-', '/', '.', ' ',
    'x', 'e', 't', 'A', 'Z', 'ä', '#', ';', '=', '٣', '０', '\u{0}', '\n', '😀',
];

#[test]
fn any_input_is_classified_without_panic_and_external_results_are_stable() {
    let normalisers = [
        LibPhoneNormaliser::new(DialingRules::default()).unwrap(),
        LibPhoneNormaliser::new(DialingRules {
            country: "US".into(),
            outside_line_prefix: "9".into(),
            internal_number_max_len: 4,
        })
        .unwrap(),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    for i in 0..20_000 {
        let len = if i % 100 == 0 {
            rng.random_range(200..2000)
        } else {
            rng.random_range(0..24)
        };
        let raw: String = (0..len)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
            .collect();
        for n in &normalisers {
            for ctx in [NumberContext::Stored, NumberContext::FromPbx] {
                match n.classify(&raw, ctx) {
                    Number::External { e164, extension } => {
                        assert_eq!(n.classify(e164.as_str(), ctx).e164(), Some(e164), "{raw:?}");
                        assert!(extension.is_none_or(|e| !e.is_empty()));
                    }
                    Number::Internal(digits) => {
                        assert!(digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 4);
                    }
                    Number::Invalid(kept) => assert!(kept.chars().count() <= 64),
                    Number::Suppressed => {}
                }
            }
        }
    }
}

#[test]
fn domain_country_calling_codes_agree_with_libphonenumber() {
    let util = PhoneNumberUtil::new().unwrap();
    let mut checked = 0;
    for region in util.get_supported_regions() {
        let Ok(example) = util.get_example_number(region) else {
            continue;
        };
        let e164 = E164::parse(&util.format(&example, PhoneNumberFormat::E164)).unwrap();
        let expected = util.get_country_code_for_region(region).map(|c| c as u16);
        assert_eq!(e164.country_calling_code(), expected, "{region:?} {e164}");
        checked += 1;
    }
    for code in util.get_supported_global_network_calling_codes() {
        let Ok(example) = util.get_example_number_for_non_geo_entity(code) else {
            continue;
        };
        let e164 = E164::parse(&util.format(&example, PhoneNumberFormat::E164)).unwrap();
        assert_eq!(e164.country_calling_code(), Some(code as u16), "{e164}");
        checked += 1;
    }
    assert!(checked > 200, "{checked}");
}
