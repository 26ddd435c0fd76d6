//! Record ids shaped like Salesforce's: a 3-char key prefix, a pod code, a base-62 counter,
//! and the 3-char case-safe suffix that turns the 15-char id into the 18-char one.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The pod code every id of this emulated org carries after its key prefix.
const POD: &str = "8d";

/// The 3-char suffix of a 15-char id: one char per 5-char chunk, whose bit `i` says
/// whether char `i` of the chunk is an upper-case letter.
pub(crate) fn case_safe_suffix(id15: &str) -> String {
    let bytes = id15.as_bytes();
    (0..3)
        .map(|chunk| {
            let flags = (0..5).fold(0usize, |acc, i| {
                let upper = bytes
                    .get(chunk * 5 + i)
                    .is_some_and(|b| b.is_ascii_uppercase());
                acc | (usize::from(upper) << i)
            });
            char::from(SUFFIX_ALPHABET[flags])
        })
        .collect()
}

/// Builds the 18-char id of the `counter`-th record with `prefix`.
pub(crate) fn make_id(prefix: &str, counter: u64) -> String {
    let mut digits = [b'0'; 10];
    let mut n = counter;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let mut id15 = String::with_capacity(18);
    id15.push_str(prefix);
    id15.push_str(POD);
    // `digits` holds only ASCII from BASE62.
    id15.extend(digits.iter().map(|&b| char::from(b)));
    let suffix = case_safe_suffix(&id15);
    id15.push_str(&suffix);
    id15
}

/// The counter [`make_id`] encoded in an id of this org.
pub(crate) fn counter_of(id: &str) -> Option<u64> {
    id.get(5..15)?.bytes().try_fold(0u64, |acc, b| {
        let digit = BASE62.iter().position(|&c| c == b)? as u64;
        acc.checked_mul(62)?.checked_add(digit)
    })
}

/// Accepts a 15- or 18-char id and returns the 18-char form when the input is well formed.
pub(crate) fn normalize(id: &str) -> Option<String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => Some(format!("{id}{}", case_safe_suffix(id))),
        18 => {
            let (head, tail) = id.split_at(15);
            // The suffix is case-insensitive in Salesforce; compare it so.
            case_safe_suffix(head)
                .eq_ignore_ascii_case(tail)
                .then(|| format!("{head}{}", case_safe_suffix(head)))
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn suffix_matches_known_salesforce_ids() {
        // Worked by hand with the published algorithm (5-char chunks, bit per upper-case char).
        assert_eq!(case_safe_suffix("001D000000IRFma"), "IAH");
        assert_eq!(case_safe_suffix("003000000000000"), "AAA");
        assert_eq!(case_safe_suffix("00QD000000ABCDE"), "MA5");
    }

    #[test]
    fn made_ids_are_18_chars_and_normalise_from_15() {
        let id = make_id("003", 238_328 + 17);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("0038d"));
        assert_eq!(normalize(&id[..15]).as_deref(), Some(id.as_str()));
        assert_eq!(
            normalize(&id.to_ascii_lowercase()[..15]).map(|s| s.len()),
            Some(18)
        );
        assert_eq!(normalize("003-bad"), None);
    }
}
