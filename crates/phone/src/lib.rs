//! Phone numbers for ctibridge: normalisation to E.164 and the in-memory phone index.
//!
//! # Normalisation
//!
//! [`LibPhoneNormaliser`] (libphonenumber metadata via `rlibphonenumber`) classifies a string
//! as a [`Number`]: an external number in E.164 form (with an optional extension), an
//! internal extension, no number at all, or invalid. The [`DialingRules`] an admin sets say
//! how to read numbers without a country code. The rules, in the order they apply:
//!
//! 1. **No number.** Empty input, only punctuation, or a placeholder (`n/a`, `anonymous`,
//!    `unbekannt`, `-`) is [`Number::Suppressed`].
//! 2. **Internal.** Only ASCII digits, at most `internal_number_max_len` of them, and not
//!    starting with the outside-line prefix (dialling the prefix seizes a line, so no
//!    extension can start with it) is [`Number::Internal`]. Internal numbers are never
//!    looked up in Salesforce.
//! 3. **Free text.** Notes after the last digit are dropped (`030 1234567 (privat)`), because
//!    libphonenumber would otherwise read the letters as vanity digits and produce a wrong but
//!    "valid" number. An uppercase word glued to the digits stays (`1-800-FLOWERS`). Letters
//!    between digits must be extension labels (`x`, `ext.`, and the German `Durchwahl`, `DW`,
//!    `App.`, `Apparat`, `Nebenstelle`, `Nst`), otherwise the input is invalid
//!    (`030 123 oder 0171 456` names two numbers; we do not guess which).
//! 4. **[`NumberContext::FromPbx`]** (a number in a call event). The PBX may or may not put
//!    the outside-line prefix in front, so with prefix `0`: `+4930123456`, `004930123456`,
//!    `030123456`, `0030123456` and `0004930123456` all mean +4930123456. Rule: the number
//!    as reported is taken if it is valid; only if it is not, the prefix is stripped and the
//!    rest taken if *that* is valid. Reading it as reported first is right because a valid
//!    reading of the full string is what the PBX most likely meant (`004930123456` is the
//!    international form, not `0` + `04930123456`), and prefix + national number is almost
//!    never a valid international number: `0` + `030123456` reads as +30 123456, too short
//!    for Greece. The residual risk is a prefixed national number whose digits happen to
//!    form a valid foreign number (in theory `0` + `0331 12345678` = +33 112345678); Berlin
//!    and Potsdam subscriber numbers are too short for that, and we accept the risk.
//! 5. **[`NumberContext::Stored`]** (typed into Salesforce). Anything libphonenumber reads:
//!    `+49 (0)30 123456-7`, `030/1234567`, `0049 30 1234567`, `+1.415.555.1212`. A trunk
//!    prefix inside an international number is dropped: `+43 (0)316 642105` is
//!    +43316642105. In a German-style hyphenated number the digits after the hyphen are part
//!    of the number (`123456-7` is the DDI extension 7, dialled directly). If the default
//!    country has a trunk prefix (`0` in DE/AT/CH) and a number is written nationally
//!    *without* it, a well-formed national number cannot be meant, so it is first tried as a
//!    North American number: `(415) 555-1212 x12` in a German org is +14155551212, ext. 12.
//! 6. Only numbers libphonenumber calls **valid** become [`Number::External`]; merely
//!    "possible" ones are [`Number::Invalid`], so that nothing is matched on a guess.
//!
//! # Index
//!
//! [`PhoneIndex`] maps E.164 numbers to the records that carry them ([`MatchStrength::Exact`]).
//! An Account number written as a switchboard, ending in a lone `0` after a separator
//! (`+49 30 1234-0`, `+43 1 5880 0`), also registers the block: any number made of the same
//! digits without the `0` plus 1 to 4 more digits (`+49 30 1234-567`) matches that Account as
//! [`MatchStrength::SwitchboardExtension`].
//!
//! [`ReadingsMemo`] keeps the readings of recently seen PBX strings, so that the events of a
//! call after its first one cost a hash lookup instead of libphonenumber's parse.
//!
//! On the ring path ([`Normaliser::pbx_first_match`]) a plain number, digits after `+`, the
//! international prefix or the trunk prefix, or a national number without the trunk prefix
//! (`+4930123456`, `004930123456`, `030123456`, `30123456`), is first read literally, by
//! slicing: when the index holds that number, it is the caller's, and libphonenumber is not
//! asked. The answer is the one libphonenumber gives: each form is used only where
//! libphonenumber reads every country code's example numbers so, and a test checks it for
//! ~50,000 valid numbers in 18 dialing regions (see the `literal` module for the one case left
//! to libphonenumber). A number no record has is read the same way when its literal reading is
//! a valid number (asked of the metadata without a parse); only a form whose literal reading
//! is not valid is parsed, because libphonenumber may read such a string as another number.
//!
//! ```
//! use std::sync::Arc;
//!
//! use ctibridge_domain::{ObjectType, RecordRef, SalesforceId};
//! use ctibridge_phone::{DialingRules, LibPhoneNormaliser, NumberContext, PhoneIndex};
//!
//! let mut index = PhoneIndex::new(Arc::new(LibPhoneNormaliser::new(DialingRules::default())?));
//! let ada = RecordRef {
//!     object: ObjectType::Contact,
//!     id: SalesforceId::parse("003D000000QkqX1")?,
//!     name: "Ada Lovelace".into(),
//! };
//! index.insert(ada, &["+49 (0)30 123456", "n/a"]);
//!
//! // The PBX reports the caller with the outside-line prefix in front.
//! let caller = index.normaliser().classify("0030123456", NumberContext::FromPbx);
//! let matches = index.lookup(&caller.e164().ok_or("not external")?);
//! assert_eq!(matches[0].record.name, "Ada Lovelace");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod country;
mod index;
mod literal;
mod memo;
mod metadata;
mod normaliser;
mod rules;

pub use country::CountryHint;
pub use index::{IndexedRecord, InsertSummary, Match, MatchStrength, PhoneIndex};
pub use memo::ReadingsMemo;
pub use normaliser::{LibPhoneNormaliser, Normaliser, Number, NumberContext};
pub use rules::{DialingRules, DialingRulesError, MAX_INTERNAL_NUMBER_LEN};

/// The process's libphonenumber util, built from the metadata this crate carries (the same
/// the normalisers use); `None` if that does not load.
pub fn phone_number_util() -> Option<&'static rlibphonenumber::PhoneNumberUtil> {
    normaliser::util()
}
