//! The address-book export: every Salesforce Contact with a phone number as a STARFACE contact
//! in the shared address book, tagged `Salesforce`.
//!
//! A link per Contact (Salesforce id, STARFACE id, hash of what was sent) makes it idempotent:
//! an unchanged Contact costs no request. Only contacts that carry our tag are ever changed or
//! deleted; one whose tag someone removed is left alone and replaced by a new one of ours.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use ctibridge_domain::ObjectType;
use ctibridge_phone::Normaliser;
use ctibridge_starface::rest::{Contact, ContactAttribute, ContactBlock, RestClient, Tag};
use ctibridge_store::{
    CachedRecord, ContactLink, InstanceId, InstanceStore, RecordStore, SqliteStore, SyncStateStore,
};
use futures::TryStreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{debug, info};

use super::SyncError;
use super::fields::number_context;

/// The tag that marks the contacts the export made.
pub const CONTACT_TAG: &str = "Salesforce";

/// Changes sent to the PBX per batch while the store is read.
const BATCH: usize = 200;

/// Salesforce phone fields by the STARFACE number they become. Other phone fields (OtherPhone,
/// AssistantPhone, custom ones) fill `OFFICE_PHONE_NUMBER`, the first with a number wins.
const PHONE_SLOTS: &[(&str, &str)] = &[
    ("Phone", "PHONE_NUMBER"),
    ("MobilePhone", "MOBILE_PHONE_NUMBER"),
    ("HomePhone", "PRIVATE_PHONE_NUMBER"),
    ("Fax", "FAX_NUMBER"),
];
const OTHER_PHONE_SLOT: &str = "OFFICE_PHONE_NUMBER";

/// Contact fields by the STARFACE value they become (paths into the cached record's fields).
const VALUE_SLOTS: &[(&str, &str)] = &[
    ("FirstName", "NAME"),
    ("LastName", "SURNAME"),
    ("Salutation", "SALUTATION"),
    ("Account.Name", "COMPANY"),
    ("Title", "JOB_TITLE"),
    ("Email", "EMAIL"),
    ("MailingStreet", "STREET"),
    ("MailingPostalCode", "POSTAL_CODE"),
    ("MailingCity", "CITY"),
    ("MailingCountry", "COUNTRY"),
];

/// What one export run changed on the PBX.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportCounts {
    /// Contacts created.
    pub created: u64,
    /// Contacts changed.
    pub updated: u64,
    /// Contacts deleted.
    pub deleted: u64,
}

impl ExportCounts {
    fn add(&mut self, other: &ExportCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
    }
}

/// A Contact as it should look on the PBX: values by `displayKey`.
type Content = BTreeMap<&'static str, String>;

/// Where each `displayKey` lives on this PBX: block and attribute name.
type Slots = HashMap<String, (String, String)>;

/// Link changes for what already happened on the PBX, saved together: one transaction (one
/// sync of the store to disk) per batch instead of one per contact, which cost more than the
/// PBX request itself.
#[derive(Default)]
struct LinkWrites {
    upserts: Vec<ContactLink>,
    deleted: Vec<String>,
}

impl LinkWrites {
    /// Saves and forgets the collected changes. A failure loses none of the PBX's contacts:
    /// the ones without a link are tagged and the next comparison of the whole book removes
    /// and makes them again.
    async fn save(&mut self, store: &SqliteStore, instance: InstanceId) -> Result<(), SyncError> {
        let upserts = std::mem::take(&mut self.upserts);
        let deleted = std::mem::take(&mut self.deleted);
        store
            .save_contact_links(instance, &upserts, &deleted)
            .await?;
        Ok(())
    }
}

/// The export of one instance.
pub(crate) struct Exporter {
    rest: RestClient,
    tag: Option<Tag>,
    slots: Option<Slots>,
    /// Contacts whose export is still due (changed, or failed last time).
    pending: HashSet<String>,
    /// Compare the whole book with the store next time (start, after a full sync, after a
    /// failed reconciliation).
    reconcile: bool,
    /// Contacts we have on the PBX (links), once known.
    pub exported: Option<u64>,
    /// Totals since start.
    pub totals: ExportCounts,
}

impl Exporter {
    pub fn new(rest: RestClient) -> Self {
        Self {
            rest,
            tag: None,
            slots: None,
            pending: HashSet::new(),
            reconcile: true,
            exported: None,
            totals: ExportCounts::default(),
        }
    }

    /// Asks for a comparison of the whole address book with the store on the next run.
    pub fn reconcile_next(&mut self) {
        self.reconcile = true;
    }

    /// Queues Contacts whose record changed or was deleted.
    pub fn changed(&mut self, ids: impl IntoIterator<Item = String>) {
        self.pending.extend(ids);
    }

    /// Whether a run would do anything.
    pub fn due(&self) -> bool {
        self.reconcile || !self.pending.is_empty()
    }

    /// Brings the PBX up to date with the store: everything when a reconciliation is due,
    /// else the queued Contacts. Whatever fails stays due for the next run.
    pub async fn run(
        &mut self,
        store: &SqliteStore,
        instance: InstanceId,
        normaliser: &dyn Normaliser,
    ) -> Result<ExportCounts, SyncError> {
        let (tag, slots) = self.prepare().await?;
        let mut counts = ExportCounts::default();
        let result = if self.reconcile {
            // Whatever is queued is covered by the comparison.
            let result = reconcile(
                &self.rest,
                &tag,
                &slots,
                store,
                instance,
                normaliser,
                &mut counts,
            )
            .await;
            if let Ok(linked) = &result {
                self.reconcile = false;
                self.pending.clear();
                self.exported = Some(*linked);
            }
            result.map(drop)
        } else {
            let mut ids: Vec<String> = self.pending.iter().cloned().collect();
            ids.sort();
            let mut result = Ok(());
            let mut links = LinkWrites::default();
            // Converged on the PBX, link not yet saved: (Salesforce id, change of links).
            let mut done: Vec<(String, i64)> = Vec::new();
            let total = ids.len();
            for (i, id) in ids.into_iter().enumerate() {
                let step = async {
                    let record = store
                        .get_record(instance, ObjectType::Contact.as_str(), &id)
                        .await?;
                    let desired = record
                        .filter(|r| !r.deleted)
                        .and_then(|r| content(&r, normaliser, &slots));
                    let link = store.get_contact_link(instance, &id).await?;
                    converge(
                        &self.rest,
                        &tag,
                        &slots,
                        &id,
                        desired,
                        link,
                        None,
                        &mut counts,
                        &mut links,
                    )
                    .await
                };
                let stepped = step.await;
                let failed = stepped.is_err();
                match stepped {
                    Ok(delta) => done.push((id, delta)),
                    Err(e) => result = Err(e),
                }
                if failed || done.len() >= BATCH || i + 1 == total {
                    // Only a saved link takes a Contact off the queue.
                    match links.save(store, instance).await {
                        Ok(()) => {
                            for (id, delta) in done.drain(..) {
                                self.pending.remove(&id);
                                if let Some(n) = self.exported.as_mut() {
                                    *n = n.saturating_add_signed(delta);
                                }
                            }
                        }
                        Err(e) => {
                            // Contacts made on the PBX without a saved link are found and
                            // made again by a comparison of the whole book.
                            self.reconcile = true;
                            if result.is_ok() {
                                result = Err(e);
                            }
                        }
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            result
        };
        self.totals.add(&counts);
        if counts != ExportCounts::default() {
            info!(
                created = counts.created,
                updated = counts.updated,
                deleted = counts.deleted,
                "address-book export"
            );
        }
        match result {
            Ok(()) => Ok(counts),
            Err(e) => {
                // A PBX that lost contacts or changed its scheme is looked at afresh.
                if matches!(&e, SyncError::Pbx(p) if p.status() == Some(400) || p.status() == Some(404))
                {
                    self.tag = None;
                    self.slots = None;
                    self.reconcile = true;
                }
                Err(e)
            }
        }
    }

    /// Our tag (made if missing) and where each value goes on this PBX.
    async fn prepare(&mut self) -> Result<(Tag, Slots), SyncError> {
        if self.slots.is_none() {
            let scheme = self.rest.contact_scheme(Some("en")).await?;
            let mut slots = Slots::new();
            for block in &scheme.detail_blocks {
                for a in &block.attributes {
                    slots
                        .entry(a.display_key.clone())
                        .or_insert_with(|| (block.name.clone(), a.name.clone()));
                }
            }
            if !slots.contains_key("SURNAME") && !slots.contains_key("NAME") {
                return Err(SyncError::Setup(
                    "the PBX's contact scheme (/rest/contacts/scheme) has no NAME or SURNAME attribute to put a contact's name in".to_owned(),
                ));
            }
            self.slots = Some(slots);
        }
        if self.tag.is_none() {
            self.tag = Some(our_tag(&self.rest).await?);
        }
        match (&self.tag, &self.slots) {
            (Some(t), Some(s)) => Ok((t.clone(), s.clone())),
            _ => Err(SyncError::Setup(
                "address-book export not prepared".to_owned(),
            )),
        }
    }
}

/// Deletes every contact the export made for `instance` that still carries our tag, and
/// forgets the links; for when `import_contacts` is turned off. Returns the contacts deleted.
pub(crate) async fn remove_exported(
    rest: &RestClient,
    store: &SqliteStore,
    instance: InstanceId,
) -> Result<u64, SyncError> {
    let tag = rest
        .contact_tags()
        .await?
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(CONTACT_TAG));
    let mut deleted = 0;
    let mut links = LinkWrites::default();
    let mut result = Ok(());
    for link in store.list_contact_links(instance).await? {
        let step = async {
            if let Some(tag) = &tag {
                let ours = rest
                    .contact(&link.starface_contact_id)
                    .await?
                    .is_some_and(|c| c.has_tag(tag));
                if ours && rest.delete_contact(&link.starface_contact_id).await? {
                    return Ok::<u64, SyncError>(1);
                }
            }
            Ok(0)
        };
        match step.await {
            Ok(n) => {
                deleted += n;
                links.deleted.push(link.sf_id);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        if links.deleted.len() >= BATCH {
            links.save(store, instance).await?;
        }
    }
    // The links of what is gone from the PBX are forgotten also when a later step failed.
    links.save(store, instance).await?;
    result.map(|()| deleted)
}

/// The tag `Salesforce`, made when the PBX has none.
async fn our_tag(rest: &RestClient) -> Result<Tag, SyncError> {
    let find = |tags: Vec<Tag>| {
        tags.into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(CONTACT_TAG))
    };
    if let Some(tag) = find(rest.contact_tags().await?) {
        return Ok(tag);
    }
    match rest.create_contact_tag(CONTACT_TAG).await {
        Ok(tag) => {
            info!(tag = %tag.name, id = %tag.id, "created the address-book tag");
            Ok(tag)
        }
        // Another instance may have made it a moment ago.
        Err(e) => find(rest.contact_tags().await?).ok_or(SyncError::Pbx(e)),
    }
}

/// What a cached Contact becomes on the PBX; `None` without a phone number.
fn content(record: &CachedRecord, normaliser: &dyn Normaliser, slots: &Slots) -> Option<Content> {
    let r = &record.record;
    let ctx = number_context(&ObjectType::Contact, &r.fields);
    let mut out = Content::new();
    for p in &r.phones {
        let Some(e164) = normaliser.classify(&p.raw, ctx).e164() else {
            continue;
        };
        let key = PHONE_SLOTS
            .iter()
            .find(|(field, _)| *field == p.field)
            .map_or(OTHER_PHONE_SLOT, |(_, key)| *key);
        if slots.contains_key(key) {
            out.entry(key).or_insert_with(|| e164.as_str().to_owned());
        }
    }
    if out.is_empty() {
        return None;
    }
    for (path, key) in VALUE_SLOTS {
        if let Some(v) = text_at(&r.fields, path)
            && slots.contains_key(*key)
        {
            out.insert(key, v);
        }
    }
    if !out.contains_key("SURNAME") && !out.contains_key("NAME") {
        let name = r.name.trim();
        if !name.is_empty() {
            let key = if slots.contains_key("SURNAME") {
                "SURNAME"
            } else {
                "NAME"
            };
            out.insert(key, name.to_owned());
        }
    }
    Some(out)
}

fn text_at(fields: &serde_json::Map<String, Value>, path: &str) -> Option<String> {
    let mut parts = path.split('.');
    let mut v = fields.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// The hash kept in the link: the values and the tag, so a renamed tag re-exports too.
fn hash(content: &Content, tag: &Tag) -> String {
    let mut h = Sha256::new();
    for (k, v) in content {
        h.update(k.as_bytes());
        h.update([0x1f]);
        h.update(v.as_bytes());
        h.update([0x1e]);
    }
    h.update(tag.name.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The PBX contact for `content`, in the blocks of this PBX's scheme.
fn contact_body(content: &Content, slots: &Slots, tag: &Tag) -> Contact {
    let mut blocks: Vec<ContactBlock> = Vec::new();
    for (key, value) in content {
        let Some((block, attr)) = slots.get(*key) else {
            continue;
        };
        let attribute = ContactAttribute {
            name: attr.clone(),
            value: value.clone(),
            display_key: (*key).to_owned(),
            i18n_display_name: None,
            additional_values: BTreeMap::new(),
        };
        match blocks.iter_mut().find(|b| &b.name == block) {
            Some(b) => b.attributes.push(attribute),
            None => blocks.push(ContactBlock {
                name: block.clone(),
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

/// Makes the PBX hold `desired` for one Contact, given its link. `tagged` is the set of our
/// contacts on the PBX when the caller listed them; without it, the contact is read first to
/// check that it still carries our tag. Returns the change of the number of links.
#[allow(clippy::too_many_arguments)]
async fn converge(
    rest: &RestClient,
    tag: &Tag,
    slots: &Slots,
    sf_id: &str,
    desired: Option<Content>,
    link: Option<ContactLink>,
    tagged: Option<&HashSet<String>>,
    counts: &mut ExportCounts,
    links: &mut LinkWrites,
) -> Result<i64, SyncError> {
    let ours = |pbx_id: &str| {
        let pbx_id = pbx_id.to_owned();
        async move {
            match tagged {
                Some(set) => Ok::<bool, SyncError>(set.contains(&pbx_id)),
                None => Ok(rest.contact(&pbx_id).await?.is_some_and(|c| c.has_tag(tag))),
            }
        }
    };
    match (desired, link) {
        (None, None) => Ok(0),
        (None, Some(link)) => {
            if ours(&link.starface_contact_id).await?
                && rest.delete_contact(&link.starface_contact_id).await?
            {
                counts.deleted += 1;
            }
            links.deleted.push(sf_id.to_owned());
            Ok(-1)
        }
        (Some(content), link) => {
            let exported_hash = hash(&content, tag);
            let body = contact_body(&content, slots, tag);
            let (pbx_id, delta) = match link {
                None => {
                    counts.created += 1;
                    (rest.create_contact(&body).await?, 1)
                }
                Some(link) => {
                    let listed = tagged.is_none_or(|t| t.contains(&link.starface_contact_id));
                    if link.exported_hash == exported_hash && listed {
                        return Ok(0);
                    }
                    if ours(&link.starface_contact_id).await? {
                        rest.update_contact(&link.starface_contact_id, &body)
                            .await?;
                        counts.updated += 1;
                        (link.starface_contact_id, 0)
                    } else {
                        // Gone from the PBX, or someone took our tag off: that one is theirs.
                        counts.created += 1;
                        (rest.create_contact(&body).await?, 0)
                    }
                }
            };
            links.upserts.push(ContactLink {
                sf_id: sf_id.to_owned(),
                starface_contact_id: pbx_id,
                exported_hash,
                exported_at: Utc::now(),
            });
            Ok(delta)
        }
    }
}

/// Compares the whole address book with the store and fixes every difference; returns the
/// number of links afterwards.
async fn reconcile(
    rest: &RestClient,
    tag: &Tag,
    slots: &Slots,
    store: &SqliteStore,
    instance: InstanceId,
    normaliser: &dyn Normaliser,
    counts: &mut ExportCounts,
) -> Result<u64, SyncError> {
    let tagged: HashSet<String> = rest
        .all_contacts(std::slice::from_ref(&tag.id))
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut links: HashMap<String, ContactLink> = store
        .list_contact_links(instance)
        .await?
        .into_iter()
        .map(|l| (l.sf_id.clone(), l))
        .collect();
    // Tagged contacts no instance knows: made by us before a link was stored (a crash, a lost
    // data directory). Contacts of other instances on the same PBX are known by their links.
    let mut known: HashSet<String> = HashSet::new();
    for other in store.list_instances().await? {
        for l in store.list_contact_links(other.id).await? {
            known.insert(l.starface_contact_id);
        }
    }
    for orphan in tagged.difference(&known) {
        debug!(contact = %orphan, "deleting a tagged contact without a link");
        if rest.delete_contact(orphan).await? {
            counts.deleted += 1;
        }
    }
    let mut linked: i64 = i64::try_from(links.len()).unwrap_or(i64::MAX);
    let mut work: Vec<(String, Option<Content>, Option<ContactLink>)> = Vec::new();
    {
        let records = store.stream_records(instance);
        let mut records = std::pin::pin!(records);
        while let Some(r) = records.try_next().await? {
            if r.record.object_type != ObjectType::Contact.as_str() {
                continue;
            }
            let desired = content(&r, normaliser, slots);
            let link = links.remove(&r.record.sf_id);
            let unchanged = match (&desired, &link) {
                (None, None) => true,
                (Some(c), Some(l)) => {
                    l.exported_hash == hash(c, tag) && tagged.contains(&l.starface_contact_id)
                }
                _ => false,
            };
            if !unchanged {
                work.push((r.record.sf_id.clone(), desired, link));
            }
            if work.len() >= BATCH {
                linked += converge_batch(
                    rest,
                    tag,
                    slots,
                    store,
                    instance,
                    work.drain(..),
                    &tagged,
                    counts,
                )
                .await?;
            }
        }
    }
    // Links whose record is deleted or gone.
    work.extend(
        links
            .into_values()
            .map(|l| (l.sf_id.clone(), None, Some(l))),
    );
    linked += converge_batch(rest, tag, slots, store, instance, work, &tagged, counts).await?;
    Ok(u64::try_from(linked).unwrap_or(0))
}

/// [`converge`] for each of `work`, then the links of what reached the PBX saved in one
/// transaction, also when a step failed. Returns the change of the number of links.
#[allow(clippy::too_many_arguments)]
async fn converge_batch(
    rest: &RestClient,
    tag: &Tag,
    slots: &Slots,
    store: &SqliteStore,
    instance: InstanceId,
    work: impl IntoIterator<Item = (String, Option<Content>, Option<ContactLink>)>,
    tagged: &HashSet<String>,
    counts: &mut ExportCounts,
) -> Result<i64, SyncError> {
    let mut links = LinkWrites::default();
    let mut delta = 0;
    let mut result = Ok(());
    for (id, desired, link) in work {
        match converge(
            rest,
            tag,
            slots,
            &id,
            desired,
            link,
            Some(tagged),
            counts,
            &mut links,
        )
        .await
        {
            Ok(d) => delta += d,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let saved = links.save(store, instance).await;
    result?;
    saved?;
    Ok(delta)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;
    use ctibridge_phone::{DialingRules, LibPhoneNormaliser};
    use ctibridge_store::{PhoneValue, Record};
    use serde_json::json;

    fn slots() -> Slots {
        [
            "NAME",
            "SURNAME",
            "COMPANY",
            "EMAIL",
            "PHONE_NUMBER",
            "MOBILE_PHONE_NUMBER",
            "OFFICE_PHONE_NUMBER",
            "FAX_NUMBER",
        ]
        .into_iter()
        .map(|k| (k.to_owned(), ("b".to_owned(), k.to_lowercase())))
        .collect()
    }

    fn cached(phones: &[(&str, &str)]) -> CachedRecord {
        let fields = json!({"FirstName": "Ada", "LastName": "Lovelace", "Account": {"Name": "Engines Ltd"},
            "Email": " ada@example.com ", "MailingCountry": "Austria"});
        CachedRecord {
            instance_id: InstanceId(1),
            record: Record {
                object_type: "Contact".into(),
                sf_id: "003000000000001AAA".into(),
                name: "Ada Lovelace".into(),
                fields: fields.as_object().unwrap().clone(),
                phones: phones
                    .iter()
                    .map(|(f, raw)| PhoneValue {
                        field: (*f).into(),
                        raw: (*raw).into(),
                        e164: None,
                    })
                    .collect(),
                system_modstamp: None,
            },
            deleted: false,
            updated_at: Utc::now(),
        }
    }

    fn normaliser() -> LibPhoneNormaliser {
        LibPhoneNormaliser::new(DialingRules::default()).unwrap()
    }

    #[test]
    fn contact_values_land_on_display_keys_with_numbers_in_e164() {
        let c = content(
            &cached(&[
                ("Phone", "0316 642105"),
                ("MobilePhone", "+49 171 1234567"),
                ("OtherPhone", "n/a"),
                ("AssistantPhone", "+49 30 1234567"),
                ("Direct__c", "+49 30 7654321"),
            ]),
            &normaliser(),
            &slots(),
        )
        .unwrap();
        assert_eq!(c["NAME"], "Ada");
        assert_eq!(c["SURNAME"], "Lovelace");
        assert_eq!(c["COMPANY"], "Engines Ltd");
        assert_eq!(c["EMAIL"], "ada@example.com");
        // The contact lives in Austria: its national number is Graz.
        assert_eq!(c["PHONE_NUMBER"], "+43316642105");
        assert_eq!(c["MOBILE_PHONE_NUMBER"], "+491711234567");
        // Junk is skipped; the first other number with a value takes the office slot.
        assert_eq!(c["OFFICE_PHONE_NUMBER"], "+49301234567");
        assert!(
            !c.contains_key("COUNTRY"),
            "the PBX's scheme has no COUNTRY here"
        );
    }

    #[test]
    fn contact_without_a_readable_number_is_not_exported() {
        assert_eq!(
            content(
                &cached(&[("Phone", "siehe Zentrale")]),
                &normaliser(),
                &slots()
            ),
            None
        );
        assert_eq!(content(&cached(&[]), &normaliser(), &slots()), None);
    }

    #[test]
    fn hash_changes_with_any_value_and_with_the_tag() {
        let tag = Tag {
            id: "t".into(),
            name: "Salesforce".into(),
            alias: String::new(),
            owner: String::new(),
        };
        let a = content(
            &cached(&[("Phone", "+49 30 1234567")]),
            &normaliser(),
            &slots(),
        )
        .unwrap();
        let mut b = a.clone();
        b.insert("EMAIL", "other@example.com".into());
        assert_eq!(hash(&a, &tag), hash(&a.clone(), &tag));
        assert_ne!(hash(&a, &tag), hash(&b, &tag));
        let renamed = Tag {
            name: "SF".into(),
            ..tag.clone()
        };
        assert_ne!(hash(&a, &tag), hash(&a, &renamed));
    }

    #[test]
    fn body_groups_values_into_the_scheme_blocks_and_carries_our_tag() {
        let mut slots = slots();
        slots.insert("SURNAME".into(), ("contact".into(), "lastname".into()));
        slots.insert("PHONE_NUMBER".into(), ("telephone".into(), "phone".into()));
        let tag = Tag {
            id: "t1".into(),
            name: CONTACT_TAG.into(),
            alias: String::new(),
            owner: String::new(),
        };
        let c = content(
            &cached(&[("Phone", "+49 30 1234567")]),
            &normaliser(),
            &slots,
        )
        .unwrap();
        let body = contact_body(&c, &slots, &tag);
        assert_eq!(body.tags, vec![tag]);
        assert_eq!(body.value("SURNAME"), Some("Lovelace"));
        assert_eq!(body.value("PHONE_NUMBER"), Some("+49301234567"));
        let contact_block = body.blocks.iter().find(|b| b.name == "contact").unwrap();
        assert_eq!(contact_block.attributes[0].name, "lastname");
    }
}
