//! The address-book calls of the REST client against the PBX emulator: scheme, tags, paging,
//! create, read, update, delete.

#![allow(clippy::unwrap_used)] // tests: a failed step should stop the test

use std::collections::BTreeSet;
use std::net::SocketAddr;

use ctibridge_starface::rest::{
    Contact, ContactAttribute, ContactBlock, ContactQuery, RestClient, Tag,
};
use secrecy::SecretString;

async fn pbx() -> (ctibridge_emulator_starface::RunningPbx, RestClient) {
    let lo: SocketAddr = ([127, 0, 0, 1], 0).into();
    let pbx = ctibridge_emulator_starface::spawn(lo, Default::default())
        .await
        .unwrap();
    let rest = RestClient::new(pbx.url(), "0001", SecretString::from("admin-pass")).unwrap();
    (pbx, rest)
}

/// A contact with these display keys, placed where the PBX's scheme puts them.
async fn contact(rest: &RestClient, values: &[(&str, &str)], tag: &Tag) -> Contact {
    let scheme = rest.contact_scheme(None).await.unwrap();
    let mut blocks: Vec<ContactBlock> = Vec::new();
    for (key, value) in values {
        let (block, attr) = scheme
            .detail_blocks
            .iter()
            .find_map(|b| {
                b.attributes
                    .iter()
                    .find(|a| a.display_key == *key)
                    .map(|a| (b.name.clone(), a.name.clone()))
            })
            .unwrap();
        let attribute = ContactAttribute {
            name: attr,
            value: (*value).to_owned(),
            display_key: (*key).to_owned(),
            i18n_display_name: None,
            additional_values: Default::default(),
        };
        match blocks.iter_mut().find(|b| b.name == block) {
            Some(b) => b.attributes.push(attribute),
            None => blocks.push(ContactBlock {
                name: block,
                resource_key: None,
                attributes: vec![attribute],
            }),
        }
    }
    Contact {
        id: None,
        account_id: None,
        editable: true,
        jabber_id: None,
        primary_external_number: None,
        primary_internal_number: None,
        tags: vec![tag.clone()],
        blocks,
    }
}

#[tokio::test]
async fn scheme_names_the_display_keys_an_export_maps_onto() {
    let (pbx, rest) = pbx().await;
    let scheme = rest.contact_scheme(Some("en")).await.unwrap();
    let keys: BTreeSet<&str> = scheme
        .detail_blocks
        .iter()
        .flat_map(|b| &b.attributes)
        .map(|a| a.display_key.as_str())
        .collect();
    for key in [
        "NAME",
        "SURNAME",
        "COMPANY",
        "EMAIL",
        "PHONE_NUMBER",
        "MOBILE_PHONE_NUMBER",
        "FAX_NUMBER",
    ] {
        assert!(keys.contains(key), "{key} missing from {keys:?}");
    }
    pbx.shutdown().await;
}

#[tokio::test]
async fn tagged_contact_goes_through_create_read_update_delete() {
    let (pbx, rest) = pbx().await;
    let before = rest.contact_tags().await.unwrap();
    assert!(!before.iter().any(|t| t.name == "Salesforce"));
    let tag = rest.create_contact_tag("Salesforce").await.unwrap();
    assert!(!tag.id.is_empty());
    assert!(rest.contact_tags().await.unwrap().contains(&tag));

    let new = contact(
        &rest,
        &[
            ("NAME", "Ada"),
            ("SURNAME", "Lovelace"),
            ("PHONE_NUMBER", "+4930123456"),
        ],
        &tag,
    )
    .await;
    let id = rest.create_contact(&new).await.unwrap();
    let read = rest.contact(&id).await.unwrap().unwrap();
    assert!(read.has_tag(&tag));
    assert_eq!(read.value("SURNAME"), Some("Lovelace"));
    assert_eq!(read.value("PHONE_NUMBER"), Some("+4930123456"));

    let changed = contact(
        &rest,
        &[
            ("NAME", "Ada"),
            ("SURNAME", "King"),
            ("MOBILE_PHONE_NUMBER", "+49171555"),
        ],
        &tag,
    )
    .await;
    rest.update_contact(&id, &changed).await.unwrap();
    let read = rest.contact(&id).await.unwrap().unwrap();
    assert_eq!(read.value("SURNAME"), Some("King"));
    assert_eq!(read.value("PHONE_NUMBER"), None, "PUT replaces every value");

    let tagged = rest
        .all_contacts(std::slice::from_ref(&tag.id))
        .await
        .unwrap();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].id, id);

    assert!(rest.delete_contact(&id).await.unwrap());
    assert!(!rest.delete_contact(&id).await.unwrap(), "404 is no error");
    assert_eq!(rest.contact(&id).await.unwrap(), None);
    pbx.shutdown().await;
}

#[tokio::test]
async fn whole_lists_are_read_page_by_page() {
    let (pbx, rest) = pbx().await;
    let tag = rest.create_contact_tag("Paging").await.unwrap();
    for i in 0..23 {
        let c = contact(&rest, &[("SURNAME", &format!("Person {i:02}"))], &tag).await;
        rest.create_contact(&c).await.unwrap();
    }
    let page = rest
        .contacts(&ContactQuery {
            tags: vec![tag.name.clone()],
            pagesize: 10,
            page: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.contacts.len(), 3);
    assert_eq!(page.metadata.unwrap().total_pages, 3);
    let all = rest
        .all_contacts(std::slice::from_ref(&tag.id))
        .await
        .unwrap();
    assert_eq!(all.len(), 23);
    // The seeded entries of someone else are in the book too, without our tag.
    let everything = rest.all_contacts(&[]).await.unwrap();
    assert!(everything.len() > 23);
    pbx.shutdown().await;
}

#[tokio::test]
async fn odd_contact_ids_never_reach_the_path() {
    let (pbx, rest) = pbx().await;
    for id in ["", "../users", "a/b", "x?y"] {
        assert!(rest.contact(id).await.is_err(), "{id}");
    }
    pbx.shutdown().await;
}
