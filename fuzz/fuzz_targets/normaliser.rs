//! The number normaliser on untrusted text (PBX caller numbers, CRM phone fields): never
//! panics, and an E.164 result is a fixed point (normalising it again gives it back).
#![no_main]

use std::sync::OnceLock;

use ctibridge_phone::{
    CountryHint, DialingRules, LibPhoneNormaliser, Normaliser, Number, NumberContext,
};
use libfuzzer_sys::fuzz_target;

fn normaliser() -> &'static LibPhoneNormaliser {
    static N: OnceLock<LibPhoneNormaliser> = OnceLock::new();
    N.get_or_init(|| {
        LibPhoneNormaliser::new(DialingRules {
            country: "DE".into(),
            outside_line_prefix: "0".into(),
            internal_number_max_len: 4,
        })
        .expect("the demo dialing rules are valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let n = normaliser();
    let contexts = [
        NumberContext::FromPbx,
        NumberContext::Stored,
        NumberContext::StoredIn(CountryHint::from_text("AT").expect("a known country")),
    ];
    for ctx in contexts {
        if let Number::External { e164, .. } = n.classify(text, ctx) {
            let again = n.classify(e164.as_str(), NumberContext::Stored);
            assert_eq!(
                again.e164(),
                Some(e164),
                "{text:?} -> {e164} is not a fixed point"
            );
        }
    }
});
