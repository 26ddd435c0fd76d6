//! E.164 telephone numbers in their one canonical text form, `+4930123456`.

use std::fmt;
use std::str::FromStr;

use crate::excerpt;
use crate::serde_str::serde_via_str;

const MIN_DIGITS: usize = 2;
const MAX_DIGITS: usize = 15;

/// A telephone number in canonical E.164 form: `+` and 2..=15 digits, the first not `0`.
///
/// This type only accepts the canonical form; turning what people type (`030/1234567`,
/// `+49 (0)30 ...`) into it is the job of the phone crate's normaliser. The value is `Copy`
/// and allocation-free, and [`E164::as_u64`] gives a unique integer key for indexes (the first
/// digit is never `0`, so the integer keeps every digit).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    // `+` followed by the digits, zero-padded; `len` counts the `+`.
    buf: [u8; MAX_DIGITS + 1],
    len: u8,
}

/// Why a string is not a canonical E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E164Error {
    /// The input was empty.
    #[error("the phone number is empty; expected E.164 such as +4930123456")]
    Empty,
    /// The input does not start with `+`.
    #[error("`{0}` is not in E.164 form: it must start with `+` (such as +4930123456)")]
    MissingPlus(String),
    /// A character after the `+` is not an ASCII digit.
    #[error(
        "`{input}` is not in E.164 form: `{found}` at position {position} is not a digit \
         (no spaces or punctuation after the `+`)"
    )]
    NotADigit {
        /// Excerpt of the input.
        input: String,
        /// The offending character.
        found: char,
        /// Its character position (0 is the `+`).
        position: usize,
    },
    /// Fewer than 2 or more than 15 digits.
    #[error("`{input}` has {digits} digits; E.164 numbers have 2 to 15 digits after the `+`")]
    Length {
        /// Excerpt of the input.
        input: String,
        /// How many digits it has.
        digits: usize,
    },
    /// The first digit is `0` (no country calling code starts with 0).
    #[error("`{0}` is not in E.164 form: no country calling code starts with 0")]
    LeadingZero(String),
}

impl E164 {
    /// Parses the canonical form `+` followed by 2..=15 digits, the first of which is not `0`.
    pub fn parse(input: &str) -> Result<Self, E164Error> {
        let Some(digits) = input.strip_prefix('+') else {
            return Err(if input.is_empty() {
                E164Error::Empty
            } else {
                E164Error::MissingPlus(excerpt(input))
            });
        };
        if let Some((position, found)) = digits
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_digit())
        {
            return Err(E164Error::NotADigit {
                input: excerpt(input),
                found,
                position: position + 1,
            });
        }
        // All ASCII from here on, so bytes are characters.
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(E164Error::Length {
                input: excerpt(input),
                digits: digits.len(),
            });
        }
        if digits.starts_with('0') {
            return Err(E164Error::LeadingZero(excerpt(input)));
        }
        let mut buf = [0u8; MAX_DIGITS + 1];
        buf[0] = b'+';
        buf[1..=digits.len()].copy_from_slice(digits.as_bytes());
        Ok(Self {
            buf,
            len: (digits.len() + 1) as u8,
        })
    }

    /// The number whose digits are `parts` joined (such as a country code and a national
    /// number), if that is a canonical E.164 number; no error is built for the hot paths that
    /// only try a candidate.
    pub fn from_digit_parts(parts: &[&str]) -> Option<Self> {
        let mut buf = [0u8; MAX_DIGITS + 1];
        buf[0] = b'+';
        let mut len = 1;
        for part in parts {
            let end = len + part.len();
            if end > MAX_DIGITS + 1 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            buf[len..end].copy_from_slice(part.as_bytes());
            len = end;
        }
        let digits = len - 1;
        if digits < MIN_DIGITS || buf[1] == b'0' {
            return None;
        }
        Some(Self {
            buf,
            len: len as u8,
        })
    }

    /// Rebuilds a number from the key given by [`E164::as_u64`].
    pub fn from_u64(key: u64) -> Result<Self, E164Error> {
        // A u64 has at most 20 decimal digits. Written on the stack: a start from the index
        // snapshot checks a million and a half keys this way.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = key;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let written = std::str::from_utf8(&digits[at..]).unwrap_or_default();
        // The error (too long, or 0) is built by `parse`, which says what is wrong.
        match Self::from_digit_parts(&[written]) {
            Some(n) => Ok(n),
            None => Self::parse(&format!("+{key}")),
        }
    }

    /// The canonical text, such as `+4930123456`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and `+` are ever stored, so this cannot fail.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The digits without the leading `+`, such as `4930123456`.
    pub fn digits(&self) -> &str {
        &self.as_str()[1..]
    }

    /// The digits as an integer: a unique, cheap key (15 digits always fit a `u64`).
    pub fn as_u64(&self) -> u64 {
        self.buf[1..usize::from(self.len)]
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
    }

    /// The ITU-T country calling code this number starts with, if that code is assigned.
    ///
    /// Calling codes are prefix-free, so the first 1-3 digits decide. Numbers under a spare
    /// code (such as `+28...`) give `None`.
    pub fn country_calling_code(&self) -> Option<u16> {
        let d = self.digits().as_bytes();
        let num = |n: usize| {
            d.get(..n)
                .map(|s| s.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0')))
        };
        let one = num(1)?;
        if one == 1 || one == 7 {
            return Some(one);
        }
        let two = num(2)?;
        if TWO_DIGIT_CODES.contains(&two) {
            return Some(two);
        }
        let three = num(3)?;
        THREE_DIGIT_CODES.binary_search(&three).ok().map(|_| three)
    }

    /// The digits after the country calling code ([`E164::country_calling_code`]), as written
    /// (leading zeros kept); `None` when the code is not assigned.
    pub fn national_digits(&self) -> Option<&str> {
        let cc = self.country_calling_code()?;
        let cc_len = match cc {
            0..10 => 1,
            10..100 => 2,
            _ => 3,
        };
        self.digits().get(cc_len..)
    }
}

/// Two-digit country calling codes (ITU-T E.164 list of assigned codes).
const TWO_DIGIT_CODES: &[u16] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// Three-digit country calling codes in use (ITU-T E.164 list), sorted for binary search.
const THREE_DIGIT_CODES: &[u16] = &[
    211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233,
    234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252,
    253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297,
    298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376,
    377, 378, 379, 380, 381, 382, 383, 385, 386, 387, 388, 389, 420, 421, 423, 500, 501, 502, 503,
    504, 505, 506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673,
    674, 675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800,
    808, 850, 852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964,
    965, 966, 967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.as_str())
    }
}

impl FromStr for E164 {
    type Err = E164Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

serde_via_str!(E164, "an E.164 phone number such as +4930123456");

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn canonical_numbers_parse_and_print_unchanged() {
        for s in ["+49", "+4930123456", "+14155551212", "+123456789012345"] {
            let n = E164::parse(s).unwrap();
            assert_eq!(n.as_str(), s);
            assert_eq!(n.to_string(), s);
            assert_eq!(n.digits(), &s[1..]);
        }
    }

    #[test]
    fn digit_parts_give_the_number_parse_gives_or_none() {
        let cases: &[&[&str]] = &[
            &["49", "30123456"],
            &["", "4930123456"],
            &["1", "415", "5551212"],
            &["49"],
            &["4"],
            &["0", "49301"],
            &["49", "30 123"],
            &["49", "+30"],
            &["1234567890", "123456"],
            &["123456789012345"],
            &[],
        ];
        for parts in cases {
            let joined = format!("+{}", parts.concat());
            assert_eq!(
                E164::from_digit_parts(parts),
                E164::parse(&joined).ok(),
                "{parts:?}"
            );
        }
    }

    #[test]
    fn malformed_numbers_are_rejected_with_the_reason() {
        assert_eq!(E164::parse(""), Err(E164Error::Empty));
        assert!(matches!(
            E164::parse("4930"),
            Err(E164Error::MissingPlus(_))
        ));
        assert!(matches!(
            E164::parse("+49 30"),
            Err(E164Error::NotADigit {
                found: ' ',
                position: 3,
                ..
            })
        ));
        assert!(matches!(
            E164::parse("+4"),
            Err(E164Error::Length { digits: 1, .. })
        ));
        assert!(matches!(
            E164::parse("+"),
            Err(E164Error::Length { digits: 0, .. })
        ));
        assert!(matches!(
            E164::parse("+1234567890123456"),
            Err(E164Error::Length { digits: 16, .. })
        ));
        assert!(matches!(
            E164::parse("+049"),
            Err(E164Error::LeadingZero(_))
        ));
        assert!(matches!(
            E164::parse("+4٣"),
            Err(E164Error::NotADigit { .. })
        ));
        assert!(matches!(
            E164::parse("++49"),
            Err(E164Error::NotADigit { .. })
        ));
    }

    #[test]
    fn u64_key_round_trips_and_keeps_every_digit() {
        let n = E164::parse("+4930123456").unwrap();
        assert_eq!(n.as_u64(), 4_930_123_456);
        assert_eq!(E164::from_u64(n.as_u64()).unwrap(), n);
        let max = E164::parse("+999999999999999").unwrap();
        assert_eq!(E164::from_u64(max.as_u64()).unwrap(), max);
        assert!(E164::from_u64(0).is_err());
        assert!(E164::from_u64(u64::MAX).is_err());
    }

    #[test]
    fn country_calling_code_takes_the_assigned_prefix() {
        let cc = |s: &str| E164::parse(s).unwrap().country_calling_code();
        assert_eq!(cc("+4930123456"), Some(49));
        assert_eq!(cc("+43316642105"), Some(43));
        assert_eq!(cc("+41446681800"), Some(41));
        assert_eq!(cc("+14155551212"), Some(1));
        assert_eq!(cc("+74951234567"), Some(7));
        assert_eq!(cc("+35312345678"), Some(353));
        assert_eq!(cc("+4231234567"), Some(423));
        assert_eq!(cc("+80012345678"), Some(800));
        assert_eq!(cc("+2812345"), None);
        assert_eq!(cc("+42"), None);
    }

    #[test]
    fn national_digits_follow_the_calling_code() {
        let nsn = |s: &str| E164::parse(s).unwrap().national_digits().map(str::to_owned);
        assert_eq!(nsn("+4930123456").as_deref(), Some("30123456"));
        assert_eq!(nsn("+14155551212").as_deref(), Some("4155551212"));
        assert_eq!(nsn("+390612345678").as_deref(), Some("0612345678"));
        assert_eq!(nsn("+35312345678").as_deref(), Some("12345678"));
        assert_eq!(nsn("+2812345"), None);
    }

    #[test]
    fn three_digit_code_table_is_sorted_for_binary_search() {
        assert!(THREE_DIGIT_CODES.windows(2).all(|w| w[0] < w[1]));
        // Prefix-free: no three-digit code extends a one- or two-digit one.
        for c in THREE_DIGIT_CODES {
            assert!(!TWO_DIGIT_CODES.contains(&(c / 10)), "{c}");
            assert!(c / 100 != 1 && c / 100 != 7, "{c}");
        }
    }
}
