//! The Call Center definition `ctibridge callcenter-xml` prints, read back with an XML parser
//! and held against Salesforce's rules for the file.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test

use ctibridge_config::Config;
use ctibridge_server::callcenter::{
    CallCenterError, MAX_INTERNAL_NAME, callcenter_definition, callcenter_xml,
};
use quick_xml::events::Event;
use url::Url;

/// The commented example configuration, loaded as an admin's file would be.
fn example_config() -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, ctibridge_config::example()).unwrap();
    Config::load(Some(&path), Vec::new()).unwrap().config
}

#[derive(Debug, Default)]
struct Element {
    attrs: Vec<(String, String)>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no attribute {name} in {self:?}"))
    }
}

#[derive(Debug)]
struct Section {
    head: Element,
    items: Vec<Element>,
}

/// Parses the file strictly: `<callCenter>` with `<section>`s of `<item>`s and nothing else.
fn parse(xml: &str) -> Vec<Section> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_comments = true;
    let attrs = |e: &quick_xml::events::BytesStart<'_>| -> Vec<(String, String)> {
        e.attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect()
    };
    let mut path: Vec<String> = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match (path.as_slice(), name.as_str()) {
                    ([], "callCenter") => {}
                    ([root], "section") if root == "callCenter" => sections.push(Section {
                        head: Element {
                            attrs: attrs(&e),
                            text: String::new(),
                        },
                        items: Vec::new(),
                    }),
                    ([_, s], "item") if s == "section" => {
                        sections.last_mut().unwrap().items.push(Element {
                            attrs: attrs(&e),
                            text: String::new(),
                        })
                    }
                    (p, n) => panic!("unexpected <{n}> inside {p:?}"),
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(name, "item", "unexpected empty <{name}>");
                sections.last_mut().unwrap().items.push(Element {
                    attrs: attrs(&e),
                    text: String::new(),
                });
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.decode().unwrap();
                if path.last().map(String::as_str) == Some("item") {
                    let item = sections.last_mut().unwrap().items.last_mut().unwrap();
                    item.text.push_str(&text);
                } else {
                    assert!(text.trim().is_empty(), "stray text {text:?}");
                }
            }
            Event::GeneralRef(r) => {
                assert_eq!(path.last().map(String::as_str), Some("item"));
                let resolved = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().unwrap();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .unwrap_or_else(|| panic!("unknown entity &{name};"))
                            .to_owned()
                    }
                };
                let item = sections.last_mut().unwrap().items.last_mut().unwrap();
                item.text.push_str(&resolved);
            }
            other => panic!("unexpected XML event {other:?}"),
        }
    }
    assert!(path.is_empty(), "unclosed elements {path:?}");
    sections
}

fn item<'a>(sections: &'a [Section], section: &str, name: &str) -> &'a Element {
    sections
        .iter()
        .find(|s| s.head.attr("name") == section)
        .unwrap_or_else(|| panic!("no section {section}"))
        .items
        .iter()
        .find(|i| i.attr("name") == name)
        .unwrap_or_else(|| panic!("no item {name} in {section}"))
}

#[test]
fn definition_of_the_example_config_has_every_required_item_in_lightning_mode() {
    let config = example_config();
    let xml = callcenter_xml(&config, None).unwrap();
    let sections = parse(&xml);

    assert_eq!(sections[0].head.attr("name"), "reqGeneralInfo");
    assert_eq!(sections[0].head.attr("label"), "General Information");
    let general = |name| item(&sections, "reqGeneralInfo", name).text.as_str();
    assert_eq!(general("reqInternalName"), "ctibridgeSalesforceSales");
    assert_eq!(general("reqDisplayName"), "ctibridge (Salesforce Sales)");
    assert_eq!(
        general("reqAdapterUrl"),
        "https://ctibridge.example.com/panel"
    );
    assert_eq!(general("reqUseApi"), "true");
    assert_eq!(general("reqSoftphoneHeight"), "400");
    assert_eq!(general("reqSoftphoneWidth"), "300");
    assert_eq!(general("reqSalesforceCompatibilityMode"), "Lightning");

    let dialing = |name| item(&sections, "reqDialingOptions", name).text.as_str();
    assert_eq!(dialing("reqOutsidePrefix"), "0");
    assert_eq!(dialing("reqLongDistPrefix"), "0");
    assert_eq!(dialing("reqInternationalPrefix"), "00");

    // The panel learns its instance from getCallCenterSettings.
    assert_eq!(
        item(&sections, "ctibridge", "instance").text,
        "Salesforce Sales"
    );
}

#[test]
fn sort_orders_count_from_zero_without_gaps() {
    let sections = parse(&callcenter_xml(&example_config(), None).unwrap());
    let orders: Vec<usize> = sections
        .iter()
        .map(|s| s.head.attr("sortOrder").parse().unwrap())
        .collect();
    assert_eq!(orders, (0..sections.len()).collect::<Vec<_>>());
    for section in &sections {
        let orders: Vec<usize> = section
            .items
            .iter()
            .map(|i| i.attr("sortOrder").parse().unwrap())
            .collect();
        assert_eq!(
            orders,
            (0..section.items.len()).collect::<Vec<_>>(),
            "{section:?}"
        );
    }
}

#[test]
fn hostile_instance_name_is_escaped_and_kept_out_of_the_internal_name() {
    let mut config = example_config();
    let hostile = "Sales</item><item name=\"reqUseApi\">false</item> & \"Co\" 'x' <!-- -->";
    config.instances[0].name = hostile.to_owned();
    let xml = callcenter_xml(&config, None).unwrap();
    let sections = parse(&xml);

    let general = &sections[0].items;
    assert_eq!(general.len(), 7, "{xml}");
    assert_eq!(
        item(&sections, "reqGeneralInfo", "reqDisplayName").text,
        format!("ctibridge ({hostile})")
    );
    assert_eq!(item(&sections, "reqGeneralInfo", "reqUseApi").text, "true");
    assert_eq!(item(&sections, "ctibridge", "instance").text, hostile);
    let internal = &item(&sections, "reqGeneralInfo", "reqInternalName").text;
    assert!(internal.len() <= MAX_INTERNAL_NAME, "{internal}");
    assert!(
        internal.chars().all(|c| c.is_ascii_alphanumeric()),
        "{internal}"
    );
    assert!(internal.starts_with(|c: char| c.is_ascii_alphabetic()));
}

#[test]
fn control_characters_in_a_name_are_dropped_not_written() {
    let mut config = example_config();
    config.instances[0].name = "Sales\u{0}\u{1b}[31m".to_owned();
    let sections = parse(&callcenter_xml(&config, None).unwrap());
    assert_eq!(item(&sections, "ctibridge", "instance").text, "Sales[31m");
}

#[test]
fn plain_http_adapter_url_is_refused_except_on_loopback() {
    let mut config = example_config();
    config.server.public_url = Url::parse("http://ctibridge.example.com/").unwrap();
    let err = callcenter_xml(&config, None).unwrap_err();
    assert!(
        matches!(&err, CallCenterError::InsecureAdapterUrl { url } if url == "http://ctibridge.example.com/panel"),
        "{err}"
    );
    assert!(err.to_string().contains("https"), "{err}");

    config.server.public_url = Url::parse("http://127.0.0.1:8080/").unwrap();
    let def = callcenter_definition(&config, None).unwrap();
    assert_eq!(def.adapter_url.as_str(), "http://127.0.0.1:8080/panel");

    // A reverse proxy's path prefix is kept.
    config.server.public_url = Url::parse("https://proxy.example.com/cti/").unwrap();
    let def = callcenter_definition(&config, None).unwrap();
    assert_eq!(
        def.adapter_url.as_str(),
        "https://proxy.example.com/cti/panel"
    );
}

#[test]
fn several_instances_need_a_name_and_get_one_definition_each() {
    let mut config = example_config();
    let mut second = config.instances[0].clone();
    second.name = "Support Süd".to_owned();
    config.instances.push(second);

    let err = callcenter_xml(&config, None).unwrap_err();
    assert!(
        matches!(err, CallCenterError::InstanceRequired { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"Support Süd\""), "{err}");

    let support = callcenter_definition(&config, Some("support süd")).unwrap();
    assert_eq!(support.internal_name, "ctibridgeSupportSued");
    assert_eq!(support.instance.as_deref(), Some("Support Süd"));

    let err = callcenter_xml(&config, Some("Marketing")).unwrap_err();
    assert!(
        matches!(&err, CallCenterError::UnknownInstance { name, .. } if name == "Marketing"),
        "{err}"
    );
}

#[test]
fn dialing_options_follow_the_configured_country_and_prefix() {
    let mut config = example_config();
    config.dialing.country = ctibridge_config::CountryCode::parse("US").unwrap();
    config.dialing.outside_line_prefix = "9".to_owned();
    let sections = parse(&callcenter_xml(&config, None).unwrap());
    let dialing = |name| item(&sections, "reqDialingOptions", name).text.clone();
    assert_eq!(dialing("reqOutsidePrefix"), "9");
    assert_eq!(dialing("reqLongDistPrefix"), "1");
    assert_eq!(dialing("reqInternationalPrefix"), "011");

    config.dialing.outside_line_prefix = String::new();
    let sections = parse(&callcenter_xml(&config, None).unwrap());
    assert_eq!(
        item(&sections, "reqDialingOptions", "reqOutsidePrefix").text,
        ""
    );
}
