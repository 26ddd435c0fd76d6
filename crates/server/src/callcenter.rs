//! The Call Center definition file an admin imports in Salesforce (Setup > Call Centers >
//! Import) so that the Open CTI softphone loads ctibridge's panel (`ctibridge callcenter-xml`).
//!
//! Format (Salesforce's Open CTI developer guide, "Call Center Definition Files" and its
//! sample): `<callCenter>` holds `<section sortOrder name label>` elements with
//! `<item sortOrder name label>value</item>`; names starting with `req` are Salesforce's own.
//! `reqGeneralInfo` is required; `reqInternalName` is at most 40 alphanumeric characters,
//! starts with a letter and is unique among the org's call centers; `sortOrder` counts from 0.
//! `reqSalesforceCompatibilityMode` defaults to `Classic`, in which Lightning Experience
//! never loads the softphone, so it is always written. Sections of our own are allowed: the
//! `ctibridge` section names the instance, which the panel reads through
//! `sforce.opencti.getCallCenterSettings`.

use ctibridge_config::{Config, DialingConfig};
use url::{Host, Url};

/// Height of the softphone panel in pixels.
pub const SOFTPHONE_HEIGHT: u32 = 400;
/// Width of the softphone panel in pixels.
pub const SOFTPHONE_WIDTH: u32 = 300;
/// The compatibility mode ctibridge's panel needs (it speaks the Lightning Open CTI API).
pub const COMPATIBILITY_MODE: &str = "Lightning";
/// Longest `reqInternalName` Salesforce accepts.
pub const MAX_INTERNAL_NAME: usize = 40;

/// Why no Call Center definition can be made from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallCenterError {
    /// The adapter URL would be plain http on a host other than loopback.
    #[error(
        "server.public_url is {url}, plain http: Salesforce loads the softphone panel only over \
         https; set server.public_url to the https address of ctibridge (give it tls_cert and \
         tls_key, or put a TLS reverse proxy in front)"
    )]
    InsecureAdapterUrl {
        /// The adapter URL that would have been written.
        url: String,
    },
    /// The instance asked for is not configured.
    #[error("there is no [[instance]] named {name:?}; configured: {}", list(.known))]
    UnknownInstance {
        /// The name asked for.
        name: String,
        /// The configured instance names.
        known: Vec<String>,
    },
    /// Several instances are configured and none was named.
    #[error(
        "the configuration has {} instances ({}); each org needs its own Call Center, so name \
         the instance to make it for",
        .known.len(),
        list(.known)
    )]
    InstanceRequired {
        /// The configured instance names.
        known: Vec<String>,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The prefixes of the `reqDialingOptions` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialingPrefixes {
    /// `reqOutsidePrefix`: what the PBX needs dialled for an outside line (`[dialing]
    /// outside_line_prefix`).
    pub outside: String,
    /// `reqLongDistPrefix`: the national trunk prefix of the country (`0` in DE, `1` in the
    /// US, empty where there is none, as in Italy).
    pub long_distance: String,
    /// `reqInternationalPrefix`: what is dialled before a country code (`00` in most of
    /// Europe, `011` in North America); empty where the country has no single one.
    pub international: String,
}

/// Derives the dialing prefixes from `[dialing]`: the outside-line prefix as configured, the
/// trunk and international prefixes from libphonenumber's metadata for the country.
pub fn dialing_prefixes(dialing: &DialingConfig) -> DialingPrefixes {
    let (long_distance, international) =
        country_prefixes(dialing.country.as_str()).unwrap_or_default();
    DialingPrefixes {
        outside: dialing.outside_line_prefix.clone(),
        long_distance,
        international,
    }
}

/// (trunk prefix, international prefix) of a country, from the numbering metadata.
fn country_prefixes(country: &str) -> Option<(String, String)> {
    use rlibphonenumber::{PhoneNumberFormat, Region};

    let util = ctibridge_phone::phone_number_util()?;
    let region = Region::from_code(country).ok()?;
    let own_code = util.get_country_code_for_region(region)?;
    let trunk = if util.is_nanpa_country(region) {
        // NANP numbers are written nationally without their trunk prefix ("(201) 555-0123"),
        // so the formatting trick below finds none; the plan's trunk prefix is 1.
        "1".to_owned()
    } else {
        // What the national format puts before the national number is the trunk prefix.
        let own = util.get_example_number(region).ok()?;
        let national = util.normalize_digits_only(util.format(&own, PhoneNumberFormat::National));
        national
            .strip_suffix(own.get_national_significant_number().as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // The metadata keeps the international prefix as a pattern; libphonenumber's own
    // out-of-country formatting picks the one to dial. Format a foreign number as dialled
    // from `country` and take what stands before its country code.
    let foreign = if own_code == 44 {
        Region::DE
    } else {
        Region::GB
    };
    let example = util.get_example_number(foreign).ok()?;
    let dialled = util.format_out_of_country_calling_number(&example, region);
    let international = if dialled.trim_start().starts_with('+') {
        // No single prefix (several carriers' codes): Salesforce gets none.
        String::new()
    } else {
        let digits = util.normalize_digits_only(&dialled);
        let tail = format!(
            "{}{}",
            example.country_code,
            example.get_national_significant_number()
        );
        digits.strip_suffix(tail.as_str())?.to_owned()
    };
    Some((trunk, international))
}

/// The `reqInternalName` for an instance: `ctibridge` and the name's words capitalised, letters
/// and digits only, at most 40 characters (`Salesforce Sales` -> `ctibridgeSalesforceSales`).
///
/// German letters are spelt out (`ä` -> `ae`, `ß` -> `ss`) so that `Vertrieb Süd` keeps a
/// readable name; other characters outside ASCII are dropped.
pub fn internal_name(instance_name: &str) -> String {
    let mut out = String::from("ctibridge");
    for word in instance_name.split(|c: char| !c.is_alphanumeric()) {
        let mut first = true;
        for c in word.chars() {
            let spelt: &str = match c {
                'ä' => "ae",
                'ö' => "oe",
                'ü' => "ue",
                'Ä' => "Ae",
                'Ö' => "Oe",
                'Ü' => "Ue",
                'ß' => "ss",
                _ => "",
            };
            let piece: String = if spelt.is_empty() {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    continue;
                }
            } else {
                spelt.to_owned()
            };
            let mut chars = piece.chars();
            if first && let Some(head) = chars.next() {
                out.push(head.to_ascii_uppercase());
                out.extend(chars);
                first = false;
            } else {
                out.push_str(&piece);
            }
        }
    }
    // Everything pushed is ASCII, so byte length is character count.
    out.truncate(MAX_INTERNAL_NAME);
    out
}

/// A Call Center definition, before it is written as XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCenterDefinition {
    /// `reqInternalName`.
    pub internal_name: String,
    /// `reqDisplayName`.
    pub display_name: String,
    /// `reqAdapterUrl`: the panel, `<public_url>panel`.
    pub adapter_url: Url,
    /// `reqDialingOptions`.
    pub dialing: DialingPrefixes,
    /// The instance it is for (none when the configuration has no instance yet).
    pub instance: Option<String>,
}

/// Builds the definition for `instance` (by name, ignoring case); `None` takes the only
/// instance, or a generic one when none is configured.
pub fn callcenter_definition(
    config: &Config,
    instance: Option<&str>,
) -> Result<CallCenterDefinition, CallCenterError> {
    let known = || {
        config
            .instances
            .iter()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>()
    };
    let chosen = match instance {
        Some(name) => Some(
            config
                .instances
                .iter()
                .find(|i| i.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| CallCenterError::UnknownInstance {
                    name: name.to_owned(),
                    known: known(),
                })?,
        ),
        None => match config.instances.as_slice() {
            [] => None,
            [only] => Some(only),
            _ => return Err(CallCenterError::InstanceRequired { known: known() }),
        },
    };
    let adapter_url = adapter_url(&config.server.public_url)?;
    let (internal_name, display_name) = match chosen {
        Some(i) => (internal_name(&i.name), format!("ctibridge ({})", i.name)),
        None => ("ctibridge".to_owned(), "ctibridge".to_owned()),
    };
    Ok(CallCenterDefinition {
        internal_name,
        display_name,
        adapter_url,
        dialing: dialing_prefixes(&config.dialing),
        instance: chosen.map(|i| i.name.clone()),
    })
}

/// `<public_url>panel`, refused when it is plain http on a host other than loopback.
pub fn adapter_url(public_url: &Url) -> Result<Url, CallCenterError> {
    let mut base = public_url.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    let url = base
        .join("panel")
        .map_err(|_| CallCenterError::InsecureAdapterUrl {
            url: public_url.to_string(),
        })?;
    if url.scheme() != "https" && !is_loopback(&url) {
        return Err(CallCenterError::InsecureAdapterUrl {
            url: url.to_string(),
        });
    }
    Ok(url)
}

/// Whether a URL points at this machine (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A section as (name, label, items); an item as (name, label, value).
type Section<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str, &'a str)>);

impl CallCenterDefinition {
    /// Whether the definition makes Salesforce load the panel in Lightning Experience.
    pub fn declares_lightning(&self) -> bool {
        // Kept as a method so that doctor checks what the file says, not what we meant.
        self.to_xml().contains(&format!(
            "name=\"reqSalesforceCompatibilityMode\" label=\"Salesforce Compatibility Mode\">{COMPATIBILITY_MODE}</item>"
        ))
    }

    /// The XML file to import.
    pub fn to_xml(&self) -> String {
        let height = SOFTPHONE_HEIGHT.to_string();
        let width = SOFTPHONE_WIDTH.to_string();
        let mut sections: Vec<Section<'_>> = vec![
            (
                "reqGeneralInfo",
                "General Information",
                vec![
                    ("reqInternalName", "Internal Name", &self.internal_name),
                    ("reqDisplayName", "Display Name", &self.display_name),
                    (
                        "reqAdapterUrl",
                        "CTI Adapter URL",
                        self.adapter_url.as_str(),
                    ),
                    ("reqUseApi", "Use CTI API", "true"),
                    ("reqSoftphoneHeight", "Softphone Height", &height),
                    ("reqSoftphoneWidth", "Softphone Width", &width),
                    (
                        "reqSalesforceCompatibilityMode",
                        "Salesforce Compatibility Mode",
                        COMPATIBILITY_MODE,
                    ),
                ],
            ),
            (
                "reqDialingOptions",
                "Dialing Options",
                vec![
                    ("reqOutsidePrefix", "Outside Prefix", &self.dialing.outside),
                    (
                        "reqLongDistPrefix",
                        "Long Distance Prefix",
                        &self.dialing.long_distance,
                    ),
                    (
                        "reqInternationalPrefix",
                        "International Prefix",
                        &self.dialing.international,
                    ),
                ],
            ),
        ];
        if let Some(instance) = &self.instance {
            sections.push((
                "ctibridge",
                "ctibridge",
                vec![("instance", "Instance", instance)],
            ));
        }

        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!-- Call Center definition for ctibridge, made by `ctibridge callcenter-xml`.\n     \
             Import it in Salesforce Setup > Call Centers > Import, then add users to it\n     \
             (Manage Call Center Users). -->\n\
             <callCenter>\n",
        );
        for (order, (name, label, items)) in sections.iter().enumerate() {
            xml.push_str(&format!(
                "    <section sortOrder=\"{order}\" name=\"{}\" label=\"{}\">\n",
                escape(name),
                escape(label)
            ));
            for (item_order, (item, item_label, value)) in items.iter().enumerate() {
                xml.push_str(&format!(
                    "        <item sortOrder=\"{item_order}\" name=\"{}\" label=\"{}\">{}</item>\n",
                    escape(item),
                    escape(item_label),
                    escape(value)
                ));
            }
            xml.push_str("    </section>\n");
        }
        xml.push_str("</callCenter>\n");
        xml
    }
}

/// The Call Center definition of `instance` as XML (see [`callcenter_definition`]).
pub fn callcenter_xml(config: &Config, instance: Option<&str>) -> Result<String, CallCenterError> {
    callcenter_definition(config, instance).map(|d| d.to_xml())
}

/// Escapes text for XML content and attribute values; drops characters XML 1.0 cannot carry.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Tabs and line breaks as references, so that attribute values keep them too.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctibridge_config::CountryCode;

    #[test]
    fn internal_name_capitalises_words_and_keeps_letters_and_digits() {
        assert_eq!(
            internal_name("Salesforce Sales"),
            "ctibridgeSalesforceSales"
        );
        assert_eq!(internal_name("sales-team 2"), "ctibridgeSalesTeam2");
        assert_eq!(internal_name("Vertrieb Süd"), "ctibridgeVertriebSued");
        assert_eq!(internal_name("Straße"), "ctibridgeStrasse");
        assert_eq!(internal_name("日本"), "ctibridge");
        assert_eq!(internal_name("<x>&\"'"), "ctibridgeX");
        let long = internal_name(&"word ".repeat(30));
        assert_eq!(long.len(), MAX_INTERNAL_NAME);
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    fn prefixes(country: &str, outside: &str) -> DialingPrefixes {
        dialing_prefixes(&DialingConfig {
            country: CountryCode::parse(country).unwrap(),
            outside_line_prefix: outside.to_owned(),
            internal_number_max_len: 4,
        })
    }

    #[test]
    fn dialing_prefixes_follow_the_country() {
        let de = prefixes("DE", "0");
        assert_eq!(
            (
                de.outside.as_str(),
                de.long_distance.as_str(),
                de.international.as_str()
            ),
            ("0", "0", "00")
        );
        let us = prefixes("US", "9");
        assert_eq!(
            (
                us.outside.as_str(),
                us.long_distance.as_str(),
                us.international.as_str()
            ),
            ("9", "1", "011")
        );
        let gb = prefixes("GB", "");
        assert_eq!(
            (gb.long_distance.as_str(), gb.international.as_str()),
            ("0", "00")
        );
        // Italy keeps its leading 0 inside the number: no trunk prefix.
        let it = prefixes("IT", "0");
        assert_eq!(
            (it.long_distance.as_str(), it.international.as_str()),
            ("", "00")
        );
    }

    #[test]
    fn escape_handles_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;"
        );
    }

    #[test]
    fn adapter_url_is_the_panel_under_the_public_url() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            adapter_url(&url("https://cti.example.com/"))
                .unwrap()
                .as_str(),
            "https://cti.example.com/panel"
        );
        assert_eq!(
            adapter_url(&url("https://proxy.example.com/ctibridge/"))
                .unwrap()
                .as_str(),
            "https://proxy.example.com/ctibridge/panel"
        );
        assert_eq!(
            adapter_url(&url("http://127.0.0.1:8080/"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/panel"
        );
        assert!(matches!(
            adapter_url(&url("http://cti.example.com/")),
            Err(CallCenterError::InsecureAdapterUrl { .. })
        ));
    }
}
