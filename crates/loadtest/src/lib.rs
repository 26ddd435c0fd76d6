//! The load tool of ctibridge (`ctibridge-load`): the ring path under load, on loopback only
//! and bounded in time, and the memory and start-up cost of many records.
//!
//! - `ring`: both emulators and the connector in this process (each on its own runtime),
//!   N panels on the panel WebSocket, M STARFACE users with UCI sessions, calls played at R
//!   callback events per second. Reports p50/p99/max latency from the PBX's callback request
//!   to the frame at the panel, CPU and RSS, errors, once per [`LookupMode`]: the connector
//!   as built, and a copy of its callback route with the index or with a live SOSL search
//!   against the org emulator, and the ratio of the last two.
//! - `memory`: RSS of the phone index and caller cards with 100k and 1M records, a start
//!   from the record cache, and the connector's real start (a full read of the org).
//! - `sync`: the sync engine (`run_sync_once`) against an org of 100k and 1M records: full
//!   sync time, records/s, API calls, peak memory, and the cost of an incremental cycle per
//!   change made on the org.
//!
//! See docs/PERFORMANCE.md for how to run it and what it measured.

pub mod lookup;
pub mod memory;
pub mod panels;
pub mod pipeline;
pub mod ring;
pub mod stats;
pub mod sync_bench;
pub mod sys;
pub mod world;

pub use lookup::LookupMode;
