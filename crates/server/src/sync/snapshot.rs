//! A snapshot of an instance's phone index and caller cards in a file of the data directory,
//! so that a start with a million cached records is ready in about a second instead of
//! reading and decoding every row of the record cache (see docs/PERFORMANCE.md).
//!
//! The snapshot is only a faster way to the same state: it is used when the numbers would be
//! read under the same dialing rules and the cards follow the same layout, and the record
//! cache is at the generation it was taken at (a counter the store's triggers move on with
//! every change of the instance's records) or later, but not past a removal of rows for good:
//! then the engine applies the rows changed since (see [`Stamp::catches_up_to`]). Anything
//! else, a damaged or truncated file included, and the start reads the record cache as before. The engine takes it between its cycles
//! (after a start read the cache, then at most every [`SNAPSHOT_EVERY`] while records change),
//! when index and cards are the stored records (plus records the panel just created).
//!
//! Layout: `MAGIC`, the header's length (u32 LE) and the header, the index section (records
//! with their number keys), the cards section (each record's card or none, in the order of the
//! index section), then a trailer: both sections' offsets (u64 LE) and a CRC-32 of everything
//! before it. Header and entries are postcard. A snapshot of another format version is not
//! used, like one of other records (version 1 kept cards by id, also of records without a
//! number).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ctibridge_domain::{E164, ObjectType, RecordRef, SalesforceId};
use ctibridge_phone::PhoneIndex;
use serde::{Deserialize, Serialize};

use super::live::LiveParts;
use crate::cards::{CardLayout, CardValues};

/// How often, at most, a running engine writes a new snapshot while records change.
pub(crate) const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The file's first bytes; the digit is the format version.
const MAGIC: &[u8; 16] = b"ctibridge-snap2\n";

/// What every version's magic starts with.
const MAGIC_STEM: &[u8] = b"ctibridge-snap";

/// Trailer: two offsets and the CRC.
const TRAILER: usize = 8 + 8 + 4;

/// What a snapshot was taken from; a start uses it only when all of it still holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// The store's instance id.
    pub instance: i64,
    /// The record cache's generation (see `RecordStore::records_generation`).
    pub generation: u64,
    /// The normaliser's rules (see `Normaliser::rules_id`).
    pub rules: String,
    /// The card layout, as the admin API stores it (JSON).
    pub layout: String,
}

impl Stamp {
    /// Whether a snapshot taken at `self` can be brought up to `current` by the rows changed
    /// since it was taken: same instance, rules and layout, taken no later than the records
    /// are now (a cache restored from an older backup is not), and not before rows were last
    /// removed for good (`hard_deleted`, see `RecordStore::last_hard_delete_generation`): those
    /// rows are in no delta.
    pub fn catches_up_to(&self, current: &Stamp, hard_deleted: u64) -> bool {
        self.instance == current.instance
            && self.rules == current.rules
            && self.layout == current.layout
            && self.generation <= current.generation
            && self.generation >= hard_deleted
    }
}

/// What the engine notes besides index and cards (shown on the status page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Notes {
    /// A few numbers per object, for the demo.
    pub samples: BTreeMap<String, Vec<String>>,
    /// Values per object that are not numbers.
    pub unreadable: BTreeMap<String, usize>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    stamp: Stamp,
    notes: Notes,
    records: u64,
    cards: u64,
}

#[derive(Serialize, Deserialize)]
struct IndexEntry<'a> {
    #[serde(borrow)]
    object: &'a str,
    #[serde(borrow)]
    id: &'a str,
    #[serde(borrow)]
    name: &'a str,
    exact: Vec<u64>,
    bases: Vec<u64>,
}

/// A record's card, in the cards section at the record's place in the index section.
#[derive(Serialize, Deserialize)]
struct CardEntry<'a> {
    #[serde(borrow)]
    object: &'a str,
    #[serde(borrow)]
    text: &'a str,
}

/// Why a snapshot was not written or not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("snapshot file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot file {path} is damaged: {what}")]
    Damaged { path: PathBuf, what: String },
    #[error("the card layout changed while the snapshot was taken")]
    LayoutChanged,
}

/// The file of an instance's snapshot in the data directory.
pub(crate) fn path_for(data_dir: &Path, instance: i64) -> PathBuf {
    data_dir
        .join("snapshots")
        .join(format!("instance-{instance}.bin"))
}

/// The layout as the stamp names it.
pub(crate) fn layout_text(layout: &CardLayout) -> String {
    serde_json::to_string(&layout.specs()).unwrap_or_default()
}

/// Writes the snapshot of `parts` to `path` (through a temporary file and a rename, so that a
/// crash leaves the old snapshot or the new one). Returns the records written.
pub(crate) fn write(
    path: &Path,
    stamp: &Stamp,
    notes: &Notes,
    parts: &LiveParts,
) -> Result<usize, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let file = private_file(&tmp).map_err(io)?;
    let mut out = Crc32Writer::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let layout = parts.cards.layout();
    let written = {
        let index = parts.index.read();
        // A card built under another layout than the stamp's would be shown with the wrong
        // labels after a start; the admin changed the layout meanwhile: try again next time.
        let mut cards = 0;
        for c in index.payloads().flatten() {
            if layout
                .object(c.layout().object())
                .is_none_or(|l| !Arc::ptr_eq(l, c.layout()))
            {
                return Err(SnapshotError::LayoutChanged);
            }
            cards += 1;
        }
        let header = Header {
            stamp: stamp.clone(),
            notes: notes.clone(),
            records: index.len() as u64,
            cards,
        };
        write_all(&mut out, &index, &header).map_err(io)?
    };
    let (mut buffered, crc) = out.finish();
    buffered.write_all(&crc.to_le_bytes()).map_err(io)?;
    let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(written)
}

fn write_all<W: Write>(
    out: &mut Crc32Writer<W>,
    index: &PhoneIndex<CardValues>,
    header: &Header,
) -> std::io::Result<usize> {
    let encode = |e: postcard::Error| std::io::Error::other(e);
    out.write_all(MAGIC)?;
    let header = postcard::to_stdvec(header).map_err(encode)?;
    let len = u32::try_from(header.len()).map_err(std::io::Error::other)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&header)?;
    let index_at = out.written;
    let mut buf = Vec::with_capacity(256);
    let mut records = 0;
    for r in index.records() {
        let entry = IndexEntry {
            object: r.object,
            id: r.id.as_str(),
            name: r.name,
            exact: r.exact.to_vec(),
            bases: r.bases.to_vec(),
        };
        buf.clear();
        buf = postcard::to_extend(&entry, buf).map_err(encode)?;
        out.write_all(&buf)?;
        records += 1;
    }
    let cards_at = out.written;
    for card in index.payloads() {
        let entry = card.map(|card| CardEntry {
            object: card.layout().object(),
            text: card.text(),
        });
        buf.clear();
        buf = postcard::to_extend(&entry, buf).map_err(encode)?;
        out.write_all(&buf)?;
    }
    out.write_all(&index_at.to_le_bytes())?;
    out.write_all(&cards_at.to_le_bytes())?;
    Ok(records)
}

/// Fills `parts` (empty) from the snapshot at `path` if it was taken at exactly `stamp` (the
/// caller found it with [`peek`] and decided that it can be brought up to date); `Ok(None)`
/// when there is none or it is of other records, rules or layout (the caller reads the
/// record cache). Index and cards are built on two threads.
pub(crate) fn read(
    path: &Path,
    stamp: &Stamp,
    parts: &LiveParts,
) -> Result<Option<(usize, Notes)>, SnapshotError> {
    read_chunked(path, stamp, parts, READ_CHUNK)
}

/// [`read`], the sections `chunk` bytes at a time (tests use small ones).
fn read_chunked(
    path: &Path,
    stamp: &Stamp,
    parts: &LiveParts,
    chunk: usize,
) -> Result<Option<(usize, Notes)>, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    };
    // The header first: a snapshot of other records is not read whole (a million records'
    // is over 100 MB). Its checksum is checked with the rest below.
    match read_head(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(Head::OtherVersion) => return Ok(None),
        Ok(Head::Stamp(found)) if found != *stamp => return Ok(None),
        Ok(_) => {}
    }
    // The file is read a section at a time through a small buffer, not whole: at a million
    // records it is ~140 MB, which a start would otherwise hold on top of the index it builds.
    let damaged = |what: &str| SnapshotError::Damaged {
        path: path.to_owned(),
        what: what.to_owned(),
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let body_len = len
        .checked_sub(TRAILER as u64)
        .filter(|&b| b > (MAGIC.len() + 4) as u64)
        .ok_or_else(|| damaged("too short"))?;
    let mut trailer = [0; TRAILER];
    file.seek(SeekFrom::Start(body_len)).map_err(io)?;
    file.read_exact(&mut trailer).map_err(io)?;
    let offset = |b: &[u8]| {
        let mut a = [0; 8];
        a.copy_from_slice(b);
        u64::from_le_bytes(a)
    };
    let (index_at, cards_at) = (offset(&trailer[..8]), offset(&trailer[8..16]));
    let head_min = (MAGIC.len() + 4) as u64;
    if !((head_min..=MAX_HEAD).contains(&index_at) && index_at <= cards_at && cards_at <= body_len)
    {
        return Err(damaged("offsets"));
    }
    // The head: magic, the header's length and the header, up to the index section.
    let mut head = vec![0; usize::try_from(index_at).map_err(|_| damaged("offsets"))?];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_exact(&mut head).map_err(io)?;
    if !head.starts_with(MAGIC) {
        return Err(damaged("not a snapshot of this version"));
    }
    let mut header_len = [0; 4];
    header_len.copy_from_slice(&head[MAGIC.len()..MAGIC.len() + 4]);
    if MAGIC.len() + 4 + u32::from_le_bytes(header_len) as usize != head.len() {
        return Err(damaged("sections"));
    }
    let header: Header =
        postcard::from_bytes(&head[MAGIC.len() + 4..]).map_err(|_| damaged("header"))?;
    if header.stamp != *stamp {
        return Ok(None);
    }
    let layout = parts.cards.layout();
    let (index, cards) = std::thread::scope(|s| {
        let index = s.spawn(|| {
            let mut file = std::fs::File::open(path).ok()?;
            load_index(
                &mut file,
                (index_at, cards_at, chunk),
                header.records,
                parts,
            )
        });
        let cards = load_cards(
            &mut file,
            (cards_at, body_len, chunk),
            (header.records, header.cards),
            &layout,
        );
        (index.join(), cards)
    });
    let checked = (|| {
        let (records, index_crc) = index
            .unwrap_or(None)
            .ok_or_else(|| damaged("index section"))?;
        let (cards, cards_crc) = cards.ok_or_else(|| damaged("cards section"))?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head);
        crc.combine(&index_crc);
        crc.combine(&cards_crc);
        crc.update(&trailer[..16]);
        if trailer[16..] != crc.finalize().to_le_bytes() {
            return Err(damaged("checksum mismatch (truncated or changed)"));
        }
        Ok((records, cards))
    })();
    let given = checked.and_then(|(records, cards)| {
        parts
            .index
            .write()
            .set_payloads(cards)
            .map_err(|_| damaged("cards do not follow the index section"))?;
        Ok(records)
    });
    match given {
        Ok(records) => Ok(Some((records, header.notes))),
        Err(e) => {
            // The index was filled while the file was read: nothing of a damaged file stays.
            parts.clear();
            Err(e)
        }
    }
}

/// The stamp of the snapshot at `path`, from its header alone (a million records' file is
/// over 100 MB, and one that cannot be used is not read whole); `Ok(None)` when there is no
/// file or it is of another format version (it is replaced by the next snapshot),
/// `Some(None)` when its header cannot be read ([`read`] then says what is damaged).
pub(crate) fn peek(path: &Path) -> Result<Option<Option<Stamp>>, SnapshotError> {
    match read_head(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SnapshotError::Io {
            path: path.to_owned(),
            source,
        }),
        Ok(Head::OtherVersion) => Ok(None),
        Ok(Head::Unreadable) => Ok(Some(None)),
        Ok(Head::Stamp(found)) => Ok(Some(Some(found))),
    }
}

/// What the head of a snapshot file says.
enum Head {
    Stamp(Stamp),
    /// Not a header this version can read (the full read says what is damaged).
    Unreadable,
    /// The magic of another format version.
    OtherVersion,
}

/// The stamp in the header of the file at `path`, or why there is none.
fn read_head(path: &Path) -> std::io::Result<Head> {
    let mut file = std::fs::File::open(path)?;
    let mut start = [0; MAGIC.len() + 4];
    if file.read_exact(&mut start).is_err() {
        return Ok(Head::Unreadable);
    }
    if !start.starts_with(MAGIC) {
        return Ok(if start.starts_with(MAGIC_STEM) {
            Head::OtherVersion
        } else {
            Head::Unreadable
        });
    }
    let mut len = [0; 4];
    len.copy_from_slice(&start[MAGIC.len()..]);
    let len = u32::from_le_bytes(len) as usize;
    if len > 1 << 20 {
        return Ok(Head::Unreadable);
    }
    let mut header = vec![0; len];
    if file.read_exact(&mut header).is_err() {
        return Ok(Head::Unreadable);
    }
    Ok(postcard::from_bytes::<Header>(&header).map_or(Head::Unreadable, |h| Head::Stamp(h.stamp)))
}

/// Fills the index from the index section (`[from, to)` of `file`, read `chunk` bytes at a
/// time, see [`read_section`]); the records loaded and the
/// section's checksum, `None` when it does not decode to `records` valid entries.
fn load_index(
    file: &mut std::fs::File,
    section: (u64, u64, usize),
    records: u64,
    parts: &LiveParts,
) -> Option<(usize, crc32fast::Hasher)> {
    let n = usize::try_from(records).ok()?;
    let mut index = parts.index.write();
    index.reserve(n, n.saturating_add(n / 2));
    let (loaded, crc) = read_section(file, section, |bytes| {
        let (e, rest): (IndexEntry<'_>, _) = postcard::take_from_bytes(bytes)?;
        let record = RecordRef {
            object: ObjectType::parse(e.object).map_err(|_| Step::Bad)?,
            id: SalesforceId::parse(e.id).map_err(|_| Step::Bad)?,
            name: e.name.to_owned(),
        };
        if e.exact.iter().any(|&k| E164::from_u64(k).is_err()) {
            return Err(Step::Bad);
        }
        index.insert_keys(record, &e.exact, &e.bases);
        Ok(bytes.len() - rest.len())
    })?;
    (loaded == n).then_some((loaded, crc))
}

/// The cards of the cards section (see [`load_index`]), one per record in the order of the
/// index section, and the section's checksum; `None` when it does not decode to `records`
/// entries of which `cards` are valid cards of `layout`.
fn load_cards(
    file: &mut std::fs::File,
    section: (u64, u64, usize),
    (records, cards): (u64, u64),
    layout: &CardLayout,
) -> Option<(Vec<Option<CardValues>>, crc32fast::Hasher)> {
    let n = usize::try_from(records).ok()?;
    let mut found = Vec::with_capacity(n);
    let mut with_card = 0;
    let (_, crc) = read_section(file, section, |bytes| {
        let (e, rest): (Option<CardEntry<'_>>, _) = postcard::take_from_bytes(bytes)?;
        let card = match e {
            Some(e) => {
                let object = layout.object(e.object).ok_or(Step::Bad)?;
                with_card += 1;
                Some(CardValues::from_text(object, e.text).ok_or(Step::Bad)?)
            }
            None => None,
        };
        found.push(card);
        Ok(bytes.len() - rest.len())
    })?;
    (found.len() == n && with_card == cards).then_some((found, crc))
}

/// Why an entry was not taken from the bytes at hand.
enum Step {
    /// They end inside it: read more.
    More,
    /// It is not a valid entry.
    Bad,
}

impl From<postcard::Error> for Step {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => Self::More,
            _ => Self::Bad,
        }
    }
}

/// How much of a section is read at a time.
const READ_CHUNK: usize = 1 << 20;

/// The longest head (magic, length, header) a snapshot may have: the header holds the stamp
/// and the demo's sample numbers, a few KB.
const MAX_HEAD: u64 = 16 << 20;

/// Hands the bytes of `[from, to)` of `file` to `take`, `chunk` at a time, until the section
/// is used up: `take` decodes one entry from the start of what it is given and says how many
/// bytes that was. Returns the entries taken and the section's CRC-32; `None` for an entry
/// that is not valid, one cut off by the section's end, or a read error.
fn read_section(
    file: &mut std::fs::File,
    (from, to, chunk): (u64, u64, usize),
    mut take: impl FnMut(&[u8]) -> Result<usize, Step>,
) -> Option<(usize, crc32fast::Hasher)> {
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut left = to.checked_sub(from)?;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0; chunk.max(1).min(usize::try_from(left).ok()?)];
    let (mut start, mut end, mut taken) = (0, 0, 0);
    loop {
        while start < end {
            match take(&buf[start..end]) {
                Ok(used) => {
                    start += used;
                    taken += 1;
                }
                Err(Step::More) if left > 0 => break,
                Err(_) => return None,
            }
        }
        if left == 0 {
            return Some((taken, crc));
        }
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        if end == buf.len() {
            // An entry longer than the buffer (a card with long texts): grow, at most to the
            // section's size, which the read below bounds.
            buf.resize(buf.len() * 2, 0);
        }
        let want = (buf.len() - end).min(usize::try_from(left).ok()?);
        file.read_exact(&mut buf[end..end + want]).ok()?;
        crc.update(&buf[end..end + want]);
        end += want;
        left -= want as u64;
    }
}

/// Counts and checksums what passes through.
struct Crc32Writer<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    written: u64,
}

impl<W: Write> Crc32Writer<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: crc32fast::Hasher::new(),
            written: 0,
        }
    }

    fn finish(self) -> (W, u32) {
        (self.inner, self.hasher.finalize())
    }
}

impl<W: Write> Write for Crc32Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// The snapshot holds names and numbers of customers: readable by the service user only.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Removes an instance's snapshot (when it can no longer be trusted and must not be used).
pub(crate) fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the index snapshot");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use ctibridge_phone::{DialingRules, LibPhoneNormaliser, Normaliser};
    use ctibridge_store::{PhoneValue, Record};
    use serde_json::json;

    use super::*;

    fn parts() -> LiveParts {
        let n: Arc<dyn Normaliser> =
            Arc::new(LibPhoneNormaliser::new(DialingRules::default()).unwrap());
        LiveParts::new(n, Arc::new(CardLayout::default()))
    }

    fn record(object: &str, id: &str, name: &str, phones: &[&str]) -> Record {
        Record {
            object_type: object.into(),
            sf_id: id.into(),
            name: name.into(),
            fields: json!({"Name": name, "Email": "x@example.com", "Owner": {"Name": "Zoë"},
                           "Company": "Acme \u{1f} GmbH", "AnnualRevenue": 1_250_000})
            .as_object()
            .cloned()
            .unwrap(),
            phones: phones
                .iter()
                .map(|raw| PhoneValue {
                    field: "Phone".into(),
                    raw: (*raw).into(),
                    e164: None,
                })
                .collect(),
            system_modstamp: None,
        }
    }

    fn filled() -> LiveParts {
        let p = parts();
        p.upsert(&[
            record(
                "Contact",
                "003000000000001",
                "Jürgen Müller",
                &["030 1234567", "0171 2345678"],
            ),
            record(
                "Account",
                "001000000000002",
                "A company with a name longer than a slot keeps",
                &["+49 30 9876-0"],
            ),
            record("Lead", "00Q000000000003", "Lee", &["+43 1 58800"]),
            // A record without a number: not indexed, and no card (nothing could find it).
            record("Contact", "003000000000004", "No Number", &["n/a"]),
        ]);
        p
    }

    fn stamp() -> Stamp {
        Stamp {
            instance: 7,
            generation: 42,
            rules: "rules".into(),
            layout: layout_text(&CardLayout::default()),
        }
    }

    fn notes() -> Notes {
        Notes {
            samples: [("Contact".to_owned(), vec!["+49301234567".to_owned()])].into(),
            unreadable: [("Contact".to_owned(), 1)].into(),
        }
    }

    const PROBES: [&str; 5] = [
        "+49301234567",
        "+491712345678",
        "+49309876123",
        "+43158800",
        "+49891111111",
    ];

    fn same(a: &LiveParts, b: &LiveParts) {
        assert_eq!(a.index.len(), b.index.len());
        assert_eq!(a.index.number_count(), b.index.number_count());
        assert_eq!(a.cards.len(), b.cards.len());
        for p in PROBES {
            let e = E164::parse(p).unwrap();
            assert_eq!(a.index.lookup(&e), b.index.lookup(&e), "{p}");
        }
        for id in ["003000000000001", "001000000000002", "00Q000000000003"] {
            let id = SalesforceId::parse(id).unwrap();
            assert!(a.cards.get(&id).is_some(), "{id}");
            assert_eq!(a.cards.get(&id), b.cards.get(&id), "{id}");
        }
        let without_number = SalesforceId::parse("003000000000004").unwrap();
        assert_eq!(a.cards.get(&without_number), None);
        assert_eq!(b.cards.get(&without_number), None);
    }

    #[test]
    fn cards_follow_their_records_when_removed_and_replaced_ones_left_free_slots() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        let original = filled();
        // The Contact and the Lead go; the Contact comes back with another number, in the
        // Lead's old slot, and its own stays free: the cards must still go with their records.
        let contact = SalesforceId::parse("003000000000001").unwrap();
        original.remove(&[contact, SalesforceId::parse("00Q000000000003").unwrap()]);
        original.upsert(&[record(
            "Contact",
            "003000000000001",
            "Jürgen Müller",
            &["030 7654321"],
        )]);
        assert_eq!(write(&path, &stamp(), &notes(), &original).unwrap(), 2);
        let copy = parts();
        read(&path, &stamp(), &copy).unwrap().unwrap();
        assert_eq!(copy.cards.len(), 2);
        for id in ["003000000000001", "001000000000002"] {
            let id = SalesforceId::parse(id).unwrap();
            let card = copy.cards.get(&id);
            assert!(card.is_some(), "{id}");
            assert_eq!(card, original.cards.get(&id), "{id}");
        }
        let found = copy.index.lookup(&E164::parse("+49307654321").unwrap());
        assert_eq!(found[0].record.id, contact);
        assert_eq!(copy.cards.get(&contact).unwrap().name, "Jürgen Müller");
        assert_eq!(
            copy.cards
                .get(&SalesforceId::parse("00Q000000000003").unwrap()),
            None
        );
    }

    #[test]
    fn a_snapshot_read_back_gives_the_same_index_cards_and_notes() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        let original = filled();
        assert_eq!(write(&path, &stamp(), &notes(), &original).unwrap(), 3);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let copy = parts();
        let (records, read_notes) = read(&path, &stamp(), &copy).unwrap().unwrap();
        assert_eq!(records, 3);
        assert_eq!(read_notes, notes());
        same(&copy, &original);
        // A found number names the record the way the original does.
        let found = copy.index.lookup(&E164::parse("+49309876123").unwrap());
        assert_eq!(
            found[0].record.name,
            "A company with a name longer than a slot keeps"
        );
    }

    #[test]
    fn a_snapshot_of_other_records_rules_or_layout_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        write(&path, &stamp(), &notes(), &filled()).unwrap();
        let changed = [
            Stamp {
                generation: 43,
                ..stamp()
            },
            Stamp {
                instance: 8,
                ..stamp()
            },
            Stamp {
                rules: "other".into(),
                ..stamp()
            },
            Stamp {
                layout: "{}".into(),
                ..stamp()
            },
        ];
        for other in changed {
            let fresh = parts();
            assert!(read(&path, &other, &fresh).unwrap().is_none(), "{other:?}");
            assert_eq!(fresh.index.len(), 0);
            assert_eq!(fresh.cards.len(), 0);
        }
        assert!(
            read(&dir.path().join("none.bin"), &stamp(), &parts())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn only_an_older_snapshot_of_the_same_rules_and_layout_since_the_last_hard_delete_catches_up() {
        let now = stamp();
        let taken = Stamp {
            generation: 30,
            ..stamp()
        };
        assert!(taken.catches_up_to(&now, 0));
        assert!(taken.catches_up_to(&now, 30));
        assert!(now.catches_up_to(&now, 42));
        // Rows removed for good after it was taken are in no delta.
        assert!(!taken.catches_up_to(&now, 31));
        // Newer than the records: a cache restored from an older backup.
        assert!(
            !Stamp {
                generation: 43,
                ..stamp()
            }
            .catches_up_to(&now, 0)
        );
        for other in [
            Stamp {
                instance: 8,
                ..taken.clone()
            },
            Stamp {
                rules: "other".into(),
                ..taken.clone()
            },
            Stamp {
                layout: "{}".into(),
                ..taken.clone()
            },
        ] {
            assert!(!other.catches_up_to(&now, 0), "{other:?}");
        }
    }

    #[test]
    fn the_stamp_is_read_from_the_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        assert!(peek(&path).unwrap().is_none());
        write(&path, &stamp(), &notes(), &filled()).unwrap();
        assert_eq!(peek(&path).unwrap(), Some(Some(stamp())));
        // Damaged after the header: the header still reads; the full read finds the damage.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 30;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(peek(&path).unwrap(), Some(Some(stamp())));
        std::fs::write(&path, b"not a snapshot").unwrap();
        assert_eq!(peek(&path).unwrap(), Some(None));
    }

    #[test]
    fn a_snapshot_read_in_small_chunks_gives_the_same_index_and_cards() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        let original = filled();
        write(&path, &stamp(), &notes(), &original).unwrap();
        // Chunks shorter than an entry make the reader carry a part over and grow its buffer.
        for chunk in [1, 5, 64, 4096] {
            let back = parts();
            let (records, _) = read_chunked(&path, &stamp(), &back, chunk)
                .unwrap()
                .unwrap();
            assert_eq!(records, original.index.len(), "chunk {chunk}");
            same(&original, &back);
        }
    }

    #[test]
    fn a_snapshot_of_another_format_version_is_not_used_and_not_called_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        write(&path, &stamp(), &notes(), &filled()).unwrap();
        let mut old = std::fs::read(&path).unwrap();
        old[..MAGIC.len()].copy_from_slice(b"ctibridge-snap1\n");
        std::fs::write(&path, &old).unwrap();
        assert!(matches!(peek(&path), Ok(None)));
        let fresh = parts();
        assert!(matches!(read(&path, &stamp(), &fresh), Ok(None)));
        assert_eq!(fresh.index.len(), 0);
        assert_eq!(fresh.cards.len(), 0);
    }

    #[test]
    fn a_damaged_or_truncated_snapshot_is_an_error_never_a_wrong_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), 7);
        write(&path, &stamp(), &notes(), &filled()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), good[..good.len() / 2].to_vec()];
        for at in [0, 20, good.len() / 3, good.len() * 2 / 3, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            cases.push(bad);
        }
        // Section offsets that point into the magic, before it, past the end.
        for index_at in [0u64, 5, 16, 20, u64::MAX] {
            let mut bad = good.clone();
            let at = bad.len() - TRAILER;
            bad[at..at + 8].copy_from_slice(&index_at.to_le_bytes());
            cases.push(bad);
        }
        for bad in cases {
            std::fs::write(&path, &bad).unwrap();
            let fresh = parts();
            // Refused as damaged, or (a changed stamp in the header) as of other records.
            let result = read_chunked(&path, &stamp(), &fresh, 16);
            assert!(
                matches!(result, Err(SnapshotError::Damaged { .. }) | Ok(None)),
                "{} bytes: {result:?}",
                bad.len()
            );
            assert_eq!(fresh.index.len(), 0);
            assert_eq!(fresh.cards.len(), 0);
        }
    }

    #[test]
    fn no_snapshot_is_written_while_cards_follow_another_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = filled();
        // The layout is swapped but the cards not (yet) moved to it.
        *p.cards.layout_slot() = Arc::new(CardLayout::default());
        let result = write(&path_for(dir.path(), 7), &stamp(), &notes(), &p);
        assert!(
            matches!(result, Err(SnapshotError::LayoutChanged)),
            "{result:?}"
        );
    }
}
