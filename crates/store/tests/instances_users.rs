//! Instances, user links, user settings, sync watermarks and contact links.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use chrono::{TimeZone, Utc};
use ctibridge_store::{
    ContactLink, InstanceStore, LinkSource, Record, RecordStore, StoreError, SyncStateStore,
    SyncWatermark, UserLinkSpec, UserLookup, UserSettings, UserStore,
};
use pretty_assertions::assert_eq;
use serde_json::json;

#[tokio::test]
async fn upserting_an_instance_by_name_updates_it_in_place() {
    let (_dir, store) = common::store().await;
    let first = common::instance(&store, "Salesforce Sales").await;
    let mut spec = common::spec("Salesforce Sales");
    spec.description = "Sales team, org acme".into();
    spec.settings.insert("import_contacts".into(), json!(true));
    let second = store.upsert_instance(&spec).await.unwrap();

    assert_eq!(second.id, first.id);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.description, "Sales team, org acme");
    assert_eq!(second.settings["import_contacts"], json!(true));
    assert_eq!(
        store.get_instance("Salesforce Sales").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.get_instance_by_id(first.id).await.unwrap(),
        Some(second)
    );
    assert!(
        store
            .get_instance("salesforce sales")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn instances_list_by_name_rename_and_refuse_duplicates() {
    let (_dir, store) = common::store().await;
    let support = common::instance(&store, "Support").await;
    common::instance(&store, "Sales").await;
    let names: Vec<_> = store
        .list_instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["Sales", "Support"]);

    let err = store
        .rename_instance(support.id, "Sales")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let renamed = store.rename_instance(support.id, "Service").await.unwrap();
    assert_eq!(renamed.id, support.id);
    let err = store
        .upsert_instance(&common::spec("  "))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn deleting_an_instance_removes_what_belongs_to_it_only() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let support = common::instance(&store, "Support").await;
    for inst in [sales.id, support.id] {
        store
            .upsert_user_link(inst, &ben(LinkSource::Auto))
            .await
            .unwrap();
        store
            .upsert_records(inst, &[record("003000000000001AAA")])
            .await
            .unwrap();
    }
    assert!(store.delete_instance("Sales").await.unwrap());
    assert!(!store.delete_instance("Sales").await.unwrap());
    assert!(store.list_user_links(sales.id).await.unwrap().is_empty());
    assert!(store.count_records(sales.id).await.unwrap().is_empty());
    assert_eq!(store.list_user_links(support.id).await.unwrap().len(), 1);
    assert_eq!(store.count_records(support.id).await.unwrap()[0].live, 1);
}

fn ben(source: LinkSource) -> UserLinkSpec {
    UserLinkSpec {
        starface_user_id: "17".into(),
        starface_login_id: "1001".into(),
        email: Some("ben.utzer@example.com".into()),
        salesforce_user_id: Some("005000000000001AAA".into()),
        source,
    }
}

fn record(id: &str) -> Record {
    Record {
        object_type: "Contact".into(),
        sf_id: id.into(),
        name: "Ben".into(),
        fields: serde_json::Map::new(),
        phones: vec![],
        system_modstamp: None,
    }
}

#[tokio::test]
async fn user_links_are_found_by_each_identity() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let eva = UserLinkSpec {
        starface_user_id: "20".into(),
        starface_login_id: "1004".into(),
        email: Some("Eva.Engel@Example.com".into()),
        salesforce_user_id: Some("005000000000004AAA".into()),
        source: LinkSource::Auto,
    };
    let frank = UserLinkSpec {
        starface_user_id: "21".into(),
        starface_login_id: "1005".into(),
        email: Some("frank.fremd@example.org".into()),
        salesforce_user_id: None,
        source: LinkSource::Auto,
    };
    for spec in [&eva, &frank, &ben(LinkSource::Auto)] {
        store.upsert_user_link(sales.id, spec).await.unwrap();
    }

    let logins: Vec<_> = store
        .list_user_links(sales.id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.starface_login_id)
        .collect();
    assert_eq!(logins, ["1001", "1004", "1005"]);

    let by = |lookup| {
        let store = store.clone();
        async move {
            store
                .find_user_link(sales.id, lookup)
                .await
                .unwrap()
                .map(|l| l.starface_login_id)
        }
    };
    assert_eq!(
        by(UserLookup::StarfaceUser("20")).await.as_deref(),
        Some("1004")
    );
    assert_eq!(
        by(UserLookup::StarfaceLogin("1001")).await.as_deref(),
        Some("1001")
    );
    assert_eq!(
        by(UserLookup::SalesforceUser("005000000000004AAA"))
            .await
            .as_deref(),
        Some("1004")
    );
    // Salesforce has eva.engel@example.com where STARFACE has Eva.Engel@Example.com.
    assert_eq!(
        by(UserLookup::Email("eva.engel@example.com"))
            .await
            .as_deref(),
        Some("1004")
    );
    assert_eq!(by(UserLookup::Email("gina.gone@example.com")).await, None);
}

#[tokio::test]
async fn automatic_matching_never_replaces_a_manual_link() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let mut manual = ben(LinkSource::Manual);
    manual.salesforce_user_id = Some("005000000000009AAA".into());
    store.upsert_user_link(sales.id, &manual).await.unwrap();

    let mut auto = ben(LinkSource::Auto);
    auto.email = Some("ben@example.com".into());
    let link = store.upsert_user_link(sales.id, &auto).await.unwrap();
    assert_eq!(link.source, LinkSource::Manual);
    assert_eq!(
        link.salesforce_user_id.as_deref(),
        Some("005000000000009AAA")
    );
    assert_eq!(link.email.as_deref(), Some("ben@example.com"));

    // An admin can change a manual link, and deleting it lets matching take over again.
    assert!(store.delete_user_link(sales.id, "17").await.unwrap());
    let link = store.upsert_user_link(sales.id, &auto).await.unwrap();
    assert_eq!(link.source, LinkSource::Auto);
    assert_eq!(
        link.salesforce_user_id.as_deref(),
        Some("005000000000001AAA")
    );
}

#[tokio::test]
async fn one_salesforce_user_cannot_be_linked_to_two_starface_users() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    store
        .upsert_user_link(sales.id, &ben(LinkSource::Auto))
        .await
        .unwrap();
    let mut clara = ben(LinkSource::Auto);
    clara.starface_user_id = "18".into();
    clara.starface_login_id = "1002".into();
    let err = store.upsert_user_link(sales.id, &clara).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn an_email_shared_by_two_users_is_ambiguous_not_guessed() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    store
        .upsert_user_link(sales.id, &ben(LinkSource::Auto))
        .await
        .unwrap();
    let mut twin = ben(LinkSource::Auto);
    twin.starface_user_id = "18".into();
    twin.starface_login_id = "1002".into();
    twin.salesforce_user_id = None;
    store.upsert_user_link(sales.id, &twin).await.unwrap();
    let err = store
        .find_user_link(sales.id, UserLookup::Email("BEN.UTZER@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Ambiguous { .. }), "{err:?}");
}

#[tokio::test]
async fn user_settings_default_until_stored() {
    let (_dir, store) = common::store().await;
    let defaults = store.get_user_settings("17").await.unwrap();
    assert_eq!(defaults, UserSettings::default());
    assert!(defaults.auto_open_record);
    assert!(!defaults.create_unknown_inbound);

    let mine = UserSettings {
        auto_open_record: false,
        create_unknown_inbound: true,
        create_unknown_outbound: true,
        phone_id: Some("SIP/201-mobile".into()),
        language: Some("de".into()),
    };
    store.put_user_settings("17", &mine).await.unwrap();
    assert_eq!(store.get_user_settings("17").await.unwrap(), mine);
    assert_eq!(store.get_user_settings("18").await.unwrap(), defaults);

    let back = UserSettings {
        phone_id: Some(String::new()),
        ..UserSettings::default()
    };
    store.put_user_settings("17", &back).await.unwrap();
    assert_eq!(store.get_user_settings("17").await.unwrap().phone_id, None);
}

#[tokio::test]
async fn watermarks_resume_where_they_were() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    assert!(
        store
            .get_watermark(sales.id, "Contact")
            .await
            .unwrap()
            .is_none()
    );
    let mut state = serde_json::Map::new();
    state.insert("api_calls".into(), json!(13));
    let contact = SyncWatermark {
        object_type: "Contact".into(),
        last_full_at: Some(Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap()),
        last_incremental_at: Some(Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap()),
        watermark: Some(Utc.timestamp_millis_opt(1_793_000_000_123).unwrap()),
        state,
    };
    let lead = SyncWatermark {
        object_type: "Lead".into(),
        ..SyncWatermark::default()
    };
    store.put_watermark(sales.id, &contact).await.unwrap();
    store.put_watermark(sales.id, &lead).await.unwrap();
    assert_eq!(
        store.get_watermark(sales.id, "Contact").await.unwrap(),
        Some(contact.clone())
    );
    assert_eq!(
        store.list_watermarks(sales.id).await.unwrap(),
        vec![contact, lead]
    );
    assert!(store.delete_watermark(sales.id, "Lead").await.unwrap());
    assert_eq!(store.list_watermarks(sales.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn contact_links_map_both_ways_and_update_in_place() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let at = Utc.with_ymd_and_hms(2026, 11, 3, 8, 0, 0).unwrap();
    let mut link = ContactLink {
        sf_id: "003000000000001AAA".into(),
        starface_contact_id: "c-1".into(),
        exported_hash: "h1".into(),
        exported_at: at,
    };
    store.upsert_contact_link(sales.id, &link).await.unwrap();
    link.exported_hash = "h2".into();
    store.upsert_contact_link(sales.id, &link).await.unwrap();
    assert_eq!(
        store.get_contact_link(sales.id, &link.sf_id).await.unwrap(),
        Some(link.clone())
    );
    // A STARFACE contact belongs to one record.
    let other = ContactLink {
        sf_id: "003000000000002AAA".into(),
        ..link.clone()
    };
    let err = store
        .upsert_contact_link(sales.id, &other)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(
        store.list_contact_links(sales.id).await.unwrap(),
        vec![link.clone()]
    );
    assert!(
        store
            .delete_contact_link(sales.id, &link.sf_id)
            .await
            .unwrap()
    );
    assert!(store.list_contact_links(sales.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn contact_links_saved_as_a_batch_all_land_or_none_does() {
    let (_dir, store) = common::store().await;
    let sales = common::instance(&store, "Sales").await;
    let at = Utc.with_ymd_and_hms(2026, 11, 3, 8, 0, 0).unwrap();
    let link = |n: u32, pbx: &str| ContactLink {
        sf_id: format!("00300000000000{n}AAA"),
        starface_contact_id: pbx.into(),
        exported_hash: format!("h{n}"),
        exported_at: at,
    };
    store
        .save_contact_links(
            sales.id,
            &[link(1, "c-1"), link(2, "c-2"), link(3, "c-3")],
            &[],
        )
        .await
        .unwrap();
    // Replace one, add one, delete one, in one go.
    let changed = ContactLink {
        exported_hash: "h1b".into(),
        ..link(1, "c-1")
    };
    store
        .save_contact_links(
            sales.id,
            &[changed.clone(), link(4, "c-4")],
            &[link(2, "").sf_id],
        )
        .await
        .unwrap();
    let all = vec![changed, link(3, "c-3"), link(4, "c-4")];
    assert_eq!(store.list_contact_links(sales.id).await.unwrap(), all);
    // A conflict in the batch (c-3 belongs to record 3) keeps every link of it out.
    let err = store
        .save_contact_links(
            sales.id,
            &[link(5, "c-5"), link(6, "c-3")],
            &[all[0].sf_id.clone()],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.list_contact_links(sales.id).await.unwrap(), all);
}
