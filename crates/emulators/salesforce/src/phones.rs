//! Valid phone numbers of Germany, Austria, Switzerland and the US, typed the ways people
//! type them, each with the E.164 number it stands for.
//!
//! Area codes and lengths follow the national plans as libphonenumber's metadata encodes
//! them (checked by a test against `rlibphonenumber`): Germany 30/40/69/89 + 7-8 digits,
//! 221/211/711 + 7; Austria 1 + 7 (first digit 2-9), 316/512/662/732 + 6; Switzerland
//! 22/31/44/61 + 7; mobiles DE 151/176 + 8 and 160/170 + 7, AT 664/676 + 7 and 699 + 8,
//! CH 76/78/79 + 7; US area codes with an exchange 2xx-9xx that is not N11.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// The countries the generated data lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Country {
    De,
    At,
    Ch,
    Us,
}

impl Country {
    pub(crate) fn iso(self) -> &'static str {
        match self {
            Country::De => "DE",
            Country::At => "AT",
            Country::Ch => "CH",
            Country::Us => "US",
        }
    }

    fn cc(self) -> &'static str {
        match self {
            Country::De => "49",
            Country::At => "43",
            Country::Ch => "41",
            Country::Us => "1",
        }
    }

    /// Country names as people put them in address fields.
    pub(crate) fn names(self) -> &'static [&'static str] {
        match self {
            Country::De => &["Germany", "Deutschland", "DE", "Germany"],
            Country::At => &["Austria", "Österreich", "AT"],
            Country::Ch => &["Switzerland", "Schweiz", "CH", "Suisse"],
            Country::Us => &["United States", "USA", "US"],
        }
    }
}

/// A city with its area code (without trunk prefix) and the length of local numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct City {
    pub name: &'static str,
    pub postal: &'static str,
    pub country: Country,
    pub area: &'static str,
    pub local_len: usize,
}

pub(crate) const CITIES: &[City] = &[
    City {
        name: "Berlin",
        postal: "10115",
        country: Country::De,
        area: "30",
        local_len: 8,
    },
    City {
        name: "Berlin",
        postal: "10969",
        country: Country::De,
        area: "30",
        local_len: 7,
    },
    City {
        name: "München",
        postal: "80331",
        country: Country::De,
        area: "89",
        local_len: 8,
    },
    City {
        name: "Hamburg",
        postal: "20095",
        country: Country::De,
        area: "40",
        local_len: 8,
    },
    City {
        name: "Frankfurt am Main",
        postal: "60311",
        country: Country::De,
        area: "69",
        local_len: 7,
    },
    City {
        name: "Köln",
        postal: "50667",
        country: Country::De,
        area: "221",
        local_len: 7,
    },
    City {
        name: "Düsseldorf",
        postal: "40213",
        country: Country::De,
        area: "211",
        local_len: 7,
    },
    City {
        name: "Stuttgart",
        postal: "70173",
        country: Country::De,
        area: "711",
        local_len: 7,
    },
    City {
        name: "Wien",
        postal: "1010",
        country: Country::At,
        area: "1",
        local_len: 7,
    },
    City {
        name: "Graz",
        postal: "8010",
        country: Country::At,
        area: "316",
        local_len: 6,
    },
    City {
        name: "Linz",
        postal: "4020",
        country: Country::At,
        area: "732",
        local_len: 6,
    },
    City {
        name: "Salzburg",
        postal: "5020",
        country: Country::At,
        area: "662",
        local_len: 6,
    },
    City {
        name: "Innsbruck",
        postal: "6020",
        country: Country::At,
        area: "512",
        local_len: 6,
    },
    City {
        name: "Zürich",
        postal: "8001",
        country: Country::Ch,
        area: "44",
        local_len: 7,
    },
    City {
        name: "Genève",
        postal: "1201",
        country: Country::Ch,
        area: "22",
        local_len: 7,
    },
    City {
        name: "Bern",
        postal: "3011",
        country: Country::Ch,
        area: "31",
        local_len: 7,
    },
    City {
        name: "Basel",
        postal: "4051",
        country: Country::Ch,
        area: "61",
        local_len: 7,
    },
    City {
        name: "San Francisco",
        postal: "94105",
        country: Country::Us,
        area: "415",
        local_len: 7,
    },
    City {
        name: "New York",
        postal: "10001",
        country: Country::Us,
        area: "212",
        local_len: 7,
    },
    City {
        name: "Boston",
        postal: "02110",
        country: Country::Us,
        area: "617",
        local_len: 7,
    },
    City {
        name: "Palo Alto",
        postal: "94301",
        country: Country::Us,
        area: "650",
        local_len: 7,
    },
    City {
        name: "Chicago",
        postal: "60601",
        country: Country::Us,
        area: "312",
        local_len: 7,
    },
];

/// A phone number: national destination code, subscriber digits, and where people put a
/// hyphen before the direct-dial digits of a switchboard number (`1234-567`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Number {
    pub country: Country,
    pub area: String,
    pub subscriber: String,
    /// Index into `subscriber` where the direct-dial part starts, if any.
    pub split: Option<usize>,
    /// A US-style extension (`x12`): not part of the E.164 number.
    pub extension: Option<String>,
}

impl Number {
    pub(crate) fn e164(&self) -> String {
        format!("+{}{}{}", self.country.cc(), self.area, self.subscriber)
    }

    /// The same line with a direct-dial suffix instead of the switchboard's `0`.
    pub(crate) fn with_direct_dial(&self, rng: &mut ChaCha8Rng) -> Number {
        let mut n = self.clone();
        match self.country {
            Country::Us => {
                n.extension = Some(rng.random_range(10..999).to_string());
            }
            // Swiss numbers have a fixed length: direct dials are neighbours in the block.
            Country::Ch => {
                let keep = self.subscriber.len().saturating_sub(2);
                n.subscriber = format!(
                    "{}{:02}",
                    &self.subscriber[..keep],
                    rng.random_range(1..100)
                );
            }
            _ => {
                let base = self
                    .split
                    .map_or(&self.subscriber[..], |s| &self.subscriber[..s]);
                let digits = rng.random_range(2..=3);
                let ext: String = (0..digits)
                    .map(|i| digit(rng, if i == 0 { 1 } else { 0 }))
                    .collect();
                n.subscriber = format!("{base}{ext}");
                n.split = Some(base.len());
            }
        }
        n
    }
}

fn digit(rng: &mut ChaCha8Rng, min: u8) -> char {
    char::from(b'0' + rng.random_range(min..=9))
}

fn digits(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|i| digit(rng, if i == 0 { 2 } else { 0 }))
        .collect()
}

/// A landline in `city`.
pub(crate) fn landline(rng: &mut ChaCha8Rng, city: &City) -> Number {
    let subscriber = if city.country == Country::Us {
        us_local(rng)
    } else {
        digits(rng, city.local_len)
    };
    Number {
        country: city.country,
        area: city.area.to_owned(),
        subscriber,
        split: None,
        extension: None,
    }
}

fn us_local(rng: &mut ChaCha8Rng) -> String {
    loop {
        let exchange = rng.random_range(200..1000);
        // N11 codes are service codes, not exchanges.
        if exchange % 100 == 11 {
            continue;
        }
        return format!("{exchange}{:04}", rng.random_range(0..10_000));
    }
}

/// A company switchboard in `city`: the base digits followed by `0`.
pub(crate) fn switchboard(rng: &mut ChaCha8Rng, city: &City) -> Number {
    match city.country {
        Country::Us => {
            let mut n = landline(rng, city);
            n.subscriber
                .replace_range(3.., &format!("{:02}00", rng.random_range(10..100)));
            return n;
        }
        Country::Ch => {
            let mut n = landline(rng, city);
            n.subscriber.replace_range(5.., "00");
            return n;
        }
        _ => {}
    }
    let base_len = if city.local_len >= 7 {
        rng.random_range(4..=6)
    } else {
        rng.random_range(3..=5)
    };
    let base = digits(rng, base_len);
    Number {
        country: city.country,
        area: city.area.to_owned(),
        subscriber: format!("{base}0"),
        split: Some(base_len),
        extension: None,
    }
}

/// A mobile number of `country`.
pub(crate) fn mobile(rng: &mut ChaCha8Rng, country: Country) -> Number {
    let (area, len) = *match country {
        Country::De => [("151", 8), ("176", 8), ("160", 7), ("170", 7)].choose(rng),
        Country::At => [("664", 7), ("676", 7), ("699", 8)].choose(rng),
        Country::Ch => [("79", 7), ("78", 7), ("76", 7)].choose(rng),
        Country::Us => [("415", 7), ("646", 7), ("857", 7)].choose(rng),
    }
    .unwrap_or(&("151", 8));
    let subscriber = if country == Country::Us {
        us_local(rng)
    } else {
        (0..len).map(|_| digit(rng, 0)).collect()
    };
    Number {
        country,
        area: area.to_owned(),
        subscriber,
        split: None,
        extension: None,
    }
}

/// Values people leave in phone fields that are no number at all.
pub(crate) const JUNK: &[&str] = &[
    "n/a",
    "N/A",
    "-",
    "unknown",
    "tbd",
    "keine",
    "0",
    "siehe Zentrale",
    "???",
    "none",
];

fn group(s: &str, sizes: &[usize]) -> String {
    let mut out = Vec::new();
    let mut rest = s;
    for &n in sizes {
        if rest.len() <= n {
            break;
        }
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out.push(rest);
    out.join(" ")
}

fn pairs(s: &str) -> String {
    let chunks: Vec<String> = s
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    chunks.join(" ")
}

/// Types `n` as a person might. National forms (no country code) are used only when
/// `national_ok`, i.e. the record's address is in the number's country.
pub(crate) fn type_number(rng: &mut ChaCha8Rng, n: &Number, national_ok: bool) -> String {
    let typed = match n.country {
        Country::Us => type_us(rng, n, national_ok),
        Country::Ch => type_ch(rng, n, national_ok),
        _ => type_dach(rng, n, national_ok),
    };
    if rng.random_bool(0.02) {
        format!(" {typed} ")
    } else {
        typed
    }
}

fn type_dach(rng: &mut ChaCha8Rng, n: &Number, national_ok: bool) -> String {
    let cc = n.country.cc();
    let a = &n.area;
    let s = match n.split {
        Some(i) if rng.random_bool(0.8) => format!("{}-{}", &n.subscriber[..i], &n.subscriber[i..]),
        Some(i) => format!("{} {}", &n.subscriber[..i], &n.subscriber[i..]),
        None => n.subscriber.clone(),
    };
    let international = [
        format!("+{cc} {a} {s}"),
        format!("+{cc} (0){a} {s}"),
        format!("+{cc} (0) {a} {s}"),
        format!("00{cc} {a} {s}"),
        format!("+{cc}{a}{}", n.subscriber),
        format!("+{cc}-{a}-{s}"),
        format!("+{cc} 0{a} {s}"),
        format!("+{cc} {a} {}", pairs(&n.subscriber)),
    ];
    let national = [
        format!("0{a}/{s}"),
        format!("0{a} {s}"),
        format!("(0{a}) {s}"),
        format!("0{a}-{s}"),
        format!("0{a} / {}", pairs(&n.subscriber)),
    ];
    pick(rng, &international, &national, national_ok)
}

fn type_ch(rng: &mut ChaCha8Rng, n: &Number, national_ok: bool) -> String {
    let a = &n.area;
    let grouped = group(&n.subscriber, &[3, 2]);
    let international = [
        format!("+41 {a} {grouped}"),
        format!("+41 (0){a} {grouped}"),
        format!("0041 {a} {grouped}"),
        format!("+41{a}{}", n.subscriber),
        format!("+41 {a} {}", n.subscriber),
    ];
    let national = [format!("0{a} {grouped}"), format!("0{a}/{}", n.subscriber)];
    pick(rng, &international, &national, national_ok)
}

fn type_us(rng: &mut ChaCha8Rng, n: &Number, national_ok: bool) -> String {
    let a = &n.area;
    let x = &n.subscriber[..3];
    let l = &n.subscriber[3..];
    let international = [
        format!("+1 {a} {x} {l}"),
        format!("+1.{a}.{x}.{l}"),
        format!("+1 ({a}) {x}-{l}"),
        format!("+1-{a}-{x}-{l}"),
        format!("001 {a} {x} {l}"),
    ];
    let national = [
        format!("({a}) {x}-{l}"),
        format!("{a}-{x}-{l}"),
        format!("{a}.{x}.{l}"),
        format!("1-{a}-{x}-{l}"),
        format!("{a} {x} {l}"),
    ];
    let base = pick(rng, &international, &national, national_ok);
    match &n.extension {
        Some(ext) => {
            let sep = *[" x", " ext. ", " ext ", " x"].choose(rng).unwrap_or(&" x");
            format!("{base}{sep}{ext}")
        }
        None => base,
    }
}

fn pick(
    rng: &mut ChaCha8Rng,
    international: &[String],
    national: &[String],
    national_ok: bool,
) -> String {
    let pool = if national_ok && rng.random_bool(0.45) {
        national
    } else {
        international
    };
    pool.choose(rng).cloned().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn digits_only(s: &str) -> String {
        s.chars().filter(char::is_ascii_digit).collect()
    }

    #[test]
    fn typed_numbers_keep_their_digits() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for city in CITIES {
            for _ in 0..50 {
                let n = switchboard(&mut rng, city).with_direct_dial(&mut rng);
                let typed = type_number(&mut rng, &n, false);
                let d = digits_only(typed.split(['x', 'e']).next().unwrap_or(""));
                let nsn = format!("{}{}", n.area, n.subscriber);
                assert!(d.ends_with(&nsn), "{typed} should end in {nsn}");
                assert!(
                    typed.contains('+') || typed.trim_start().starts_with("00"),
                    "{typed}"
                );
            }
        }
    }
}
