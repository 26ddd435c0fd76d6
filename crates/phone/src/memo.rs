//! A bounded memo of [`Normaliser::pbx_readings`]: the ring path reads the same far-end number
//! on every event of a call (3-4 per call, once per member of a group call), and libphonenumber
//! costs about a microsecond per parse; every event after a call's first one becomes a hash
//! lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ctibridge_domain::E164;

use crate::{Normaliser, Number};

/// Longest PBX string the memo keeps; longer ones are read every time (junk, not a caller).
const MAX_KEY_LEN: usize = 64;

/// The readings of recently seen PBX number strings.
///
/// Bounded by two generations of at most `capacity` strings each: when the current one is
/// full it becomes the previous one and the older is dropped, so a string seen within the
/// last `capacity` distinct strings is always kept. A memo belongs to one normaliser: the
/// readings depend on its dialing rules.
pub struct ReadingsMemo {
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<Box<str>, Entry>,
    previous: HashMap<Box<str>, Entry>,
}

/// What the memo knows of a string.
#[derive(Clone)]
enum Entry {
    /// Every reading.
    Full(Arc<[Number]>),
    /// The first reading, which matched a record ([`ReadingsMemo::first_match`]); the others
    /// were not read.
    First(Number),
}

impl ReadingsMemo {
    /// A memo that keeps at least the last `capacity` distinct strings (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            generations: Mutex::new(Generations::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        match self.generations.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// [`Normaliser::pbx_readings`] of `raw` by `normaliser`, from the memo when `raw` was
    /// read recently.
    pub fn pbx_readings(&self, normaliser: &dyn Normaliser, raw: &str) -> Arc<[Number]> {
        match self.get(raw) {
            Some(Entry::Full(readings)) => readings,
            _ => self.read_all(normaliser, raw),
        }
    }

    /// The first reading of `raw` that `matches` accepts ([`Normaliser::pbx_first_match`]),
    /// or, when none does, every reading: what the ring path needs. A string seen recently
    /// costs a hash lookup (and the match again); a new one the normaliser's cheapest way to
    /// the first match.
    pub fn first_match(
        &self,
        normaliser: &dyn Normaliser,
        raw: &str,
        matches: &mut dyn FnMut(&E164) -> bool,
    ) -> Result<Number, Arc<[Number]>> {
        let first_of = |readings: Arc<[Number]>, matches: &mut dyn FnMut(&E164) -> bool| {
            readings
                .iter()
                .find(|n| n.e164().is_some_and(|e| matches(&e)))
                .cloned()
                .ok_or(readings)
        };
        match self.get(raw) {
            Some(Entry::Full(readings)) => return first_of(readings, matches),
            // Still the first reading's record: still the answer. Otherwise another reading
            // may match now: read them all.
            Some(Entry::First(n)) if n.e164().is_some_and(|e| matches(&e)) => return Ok(n),
            Some(Entry::First(_)) => return first_of(self.read_all(normaliser, raw), matches),
            None => {}
        }
        match normaliser.pbx_first_match(raw, matches) {
            Ok(n) => {
                self.put(raw, Entry::First(n.clone()));
                Ok(n)
            }
            Err(readings) => {
                let readings: Arc<[Number]> = readings.into();
                self.put(raw, Entry::Full(readings.clone()));
                Err(readings)
            }
        }
    }

    fn get(&self, raw: &str) -> Option<Entry> {
        if raw.len() > MAX_KEY_LEN {
            return None;
        }
        let mut g = self.lock();
        if let Some(e) = g.current.get(raw) {
            return Some(e.clone());
        }
        let (k, e) = g.previous.remove_entry(raw)?;
        g.current.insert(k, e.clone());
        self.rotate(&mut g);
        Some(e)
    }

    fn put(&self, raw: &str, entry: Entry) {
        if raw.len() > MAX_KEY_LEN {
            return;
        }
        let mut g = self.lock();
        g.current.insert(raw.into(), entry);
        self.rotate(&mut g);
    }

    /// Reads every reading outside the lock (two callers may read the same new string at
    /// once, which costs a parse, not a wrong answer) and keeps them.
    fn read_all(&self, normaliser: &dyn Normaliser, raw: &str) -> Arc<[Number]> {
        let readings: Arc<[Number]> = normaliser.pbx_readings(raw).into();
        self.put(raw, Entry::Full(readings.clone()));
        readings
    }

    fn rotate(&self, g: &mut Generations) {
        if g.current.len() >= self.capacity {
            g.previous = std::mem::take(&mut g.current);
        }
    }

    /// Number of strings kept.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    /// Whether no string is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for ReadingsMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No numbers: they are personal data.
        f.debug_struct("ReadingsMemo")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{DialingRules, LibPhoneNormaliser, NumberContext};

    /// Counts the reads that reach the real normaliser.
    struct Counting {
        inner: LibPhoneNormaliser,
        reads: AtomicUsize,
    }

    impl Normaliser for Counting {
        fn classify(&self, raw: &str, ctx: NumberContext) -> Number {
            self.inner.classify(raw, ctx)
        }
        fn pbx_readings(&self, raw: &str) -> Vec<Number> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.inner.pbx_readings(raw)
        }
        fn rules_id(&self) -> String {
            self.inner.rules_id()
        }
    }

    fn counting() -> Counting {
        Counting {
            inner: LibPhoneNormaliser::new(DialingRules::default()).unwrap(),
            reads: AtomicUsize::new(0),
        }
    }

    #[test]
    fn a_repeated_string_is_read_once_and_gives_the_same_readings() {
        let n = counting();
        let memo = ReadingsMemo::new(16);
        for raw in ["00221721650788", "0030123456", "+4930123456", "", "n/a"] {
            let first = memo.pbx_readings(&n, raw);
            let again = memo.pbx_readings(&n, raw);
            assert_eq!(&*first, n.inner.pbx_readings(raw).as_slice());
            assert_eq!(first, again);
        }
        assert_eq!(n.reads.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn the_memo_stays_bounded_and_keeps_recent_strings() {
        let n = counting();
        let memo = ReadingsMemo::new(8);
        for i in 0..100 {
            memo.pbx_readings(&n, &format!("030{:06}", 100_000 + i));
            assert!(memo.len() <= 16, "{} strings kept", memo.len());
        }
        let reads = n.reads.load(Ordering::Relaxed);
        // The last 8 distinct strings are still there.
        for i in 92..100 {
            memo.pbx_readings(&n, &format!("030{:06}", 100_000 + i));
        }
        assert_eq!(n.reads.load(Ordering::Relaxed), reads);
    }

    #[test]
    fn long_strings_are_read_but_not_kept() {
        let n = counting();
        let memo = ReadingsMemo::new(8);
        let long = "0".repeat(MAX_KEY_LEN + 1);
        memo.pbx_readings(&n, &long);
        memo.pbx_readings(&n, &long);
        assert_eq!(n.reads.load(Ordering::Relaxed), 2);
        assert!(memo.is_empty());
    }
}
