//! The ring scenario: calls played on the emulated PBX at a steady rate of events, every
//! event's callback timestamped where it enters the connector's `public_url`, every frame
//! timestamped where a panel receives it, on the same clock.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ctibridge_emulator_starface::{CallKind, CallSpec, NumberFormat};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::lookup::LookupMode;
use crate::panels::{Frame, Panels};
use crate::pipeline::Mark;
use crate::stats::Summary;
use crate::sys::{self, Snapshot};
use crate::world::{CONN, EMU, LOAD, Runtimes, World};

/// Events the PBX sends per played call: INCOMING, RINGING, CONNECTED, HANGUP.
pub const EVENTS_PER_CALL: f64 = 4.0;

/// How hard to push.
#[derive(Debug, Clone)]
pub struct RingOptions {
    /// Callback events per second (all users together).
    pub rate: f64,
    /// How long calls are started, per mode.
    pub duration: Duration,
    /// Share of calls from a number the index knows.
    pub known_share: f64,
    /// Seed of the numbers and formats.
    pub seed: u64,
}

/// What one mode measured.
#[derive(Debug, Clone)]
pub struct ModeResult {
    /// The mode.
    pub mode: LookupMode,
    /// Calls started.
    pub calls: usize,
    /// Calls the emulator refused to start.
    pub play_errors: usize,
    /// Callbacks that reached the endpoint.
    pub callbacks: u64,
    /// Callbacks per second over the window.
    pub callback_rate: f64,
    /// Callbacks answered with an error.
    pub callback_errors: u64,
    /// Callback posts the emulator counted as failed.
    pub pbx_delivery_failures: u64,
    /// Lookups that failed.
    pub lookup_errors: u64,
    /// Frames received by panels.
    pub frames: usize,
    /// Frames without a callback to pair with.
    pub unpaired_frames: usize,
    /// (call, panel) pairs where the panel never saw the call end.
    pub missing_end_frames: usize,
    /// Ringing frames that carried at least one match.
    pub ringing_with_match: usize,
    /// Ringing frames.
    pub ringing_frames: usize,
    /// Callback -> frame latency, all frames.
    pub latency: Summary,
    /// Callback -> frame latency, the first frame of each call (the ring).
    pub ring_latency: Summary,
    /// Cores busy on average during the window: connector runtime, emulators, load clients,
    /// whole process.
    pub cores_conn: f64,
    /// See `cores_conn`.
    pub cores_emu: f64,
    /// See `cores_conn`.
    pub cores_load: f64,
    /// See `cores_conn`.
    pub cores_total: f64,
    /// Resident set size at the end of the window, bytes.
    pub rss_end: u64,
    /// Largest resident set size sampled during the window, bytes.
    pub rss_max: u64,
    /// Salesforce API calls made during the window.
    pub api_calls: u64,
    /// Latencies larger than the time between two events of a call cannot be paired
    /// reliably; how many there were.
    pub over_step: usize,
    /// The machine's 1-minute load average at the end of the window (other processes too).
    pub load_average: Option<f64>,
}

/// Runs the scenario once in `mode` against the world and its panels.
pub async fn run_mode(
    rt: &Runtimes,
    world: &World,
    panels: &Panels,
    mode: LookupMode,
    opts: &RingOptions,
    step_delay: Duration,
) -> ModeResult {
    world.pipeline.set_mode(mode);
    world.pipeline.take_marks();
    panels.take_frames().await;
    let lookup = world.state().lookup(&world.instance);
    let known: Vec<String> = lookup
        .as_ref()
        .map(|l| l.samples.iter().map(|e| e.as_str().to_owned()).collect())
        .unwrap_or_default();
    let api_before = world.org.control().api_usage().used;
    let stats_before = world.pbx.control().stats();
    let callbacks_before = world.pipeline.counters.callbacks.load(Ordering::Relaxed);
    let failed_before = world.pipeline.counters.failed.load(Ordering::Relaxed);
    let lookup_errors_before = world
        .pipeline
        .counters
        .lookup_errors
        .load(Ordering::Relaxed);

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let period = Duration::from_secs_f64(EVENTS_PER_CALL / opts.rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let control = world.pbx.control();
    let emu = rt.emu.handle().clone();

    let before = sys::snapshot();
    let window = opts.duration;
    // On a thread of its own: reading /proc must not stall a runtime that timestamps frames.
    let sampler = std::thread::spawn(move || sample_rss(window));
    let window_start = Instant::now();
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut play_errors = 0;
    let mut k = 0usize;
    while window_start.elapsed() < opts.duration {
        tick.tick().await;
        let user = world.users[k % world.users.len()].clone();
        k += 1;
        let number = if !known.is_empty() && rng.random_bool(opts.known_share) {
            known[rng.random_range(0..known.len())].clone()
        } else {
            // Berlin numbers no record has (the org emulator's numbers are random too, so a
            // few may hit; the frames say how many).
            format!("+4930{}", rng.random_range(20_000_000..99_999_999u32))
        };
        let format = [
            NumberFormat::E164,
            NumberFormat::International00,
            NumberFormat::National,
            NumberFormat::OutsideLine,
        ][rng.random_range(0..4usize)];
        let spec = CallSpec {
            kind: CallKind::Inbound,
            target: user.clone(),
            number: format.render(&number),
            name: String::new(),
            ring_steps: 1,
            talk_steps: 1,
            ..Default::default()
        };
        let c = control.clone();
        // Played on the emulators' runtime, where its event script then runs.
        match emu.spawn(async move { c.play(spec) }).await {
            Ok(Ok(id)) => calls.push((id, user)),
            _ => play_errors += 1,
        }
    }
    let after = sys::snapshot();
    // Let the last calls finish: four steps and the delivery, then until no callback has
    // come for a second (a loaded machine delivers late), at most 20 s more.
    tokio::time::sleep(step_delay * 5 + Duration::from_secs(1)).await;
    let settle_until = Instant::now() + Duration::from_secs(20);
    let mut seen = world.pipeline.counters.callbacks.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while Instant::now() < settle_until && quiet_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = world.pipeline.counters.callbacks.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
    }
    let rss_max = sampler.join().unwrap_or(0).max(after.rss);

    let marks = world.pipeline.take_marks();
    let frames = panels.take_frames().await;
    let stats_after = world.pbx.control().stats();
    let callbacks = world.pipeline.counters.callbacks.load(Ordering::Relaxed) - callbacks_before;
    let window = after
        .at
        .zip(before.at)
        .map_or(1.0, |(a, b)| a.duration_since(b).as_secs_f64());

    let paired = pair(&marks, &frames);
    let latencies: Vec<Duration> = paired.iter().filter_map(|p| p.latency).collect();
    let over_step = latencies.iter().filter(|l| **l >= step_delay).count();
    let ring: Vec<Duration> = paired
        .iter()
        .filter(|p| p.first_of_call)
        .filter_map(|p| p.latency)
        .collect();
    let ringing: Vec<&Frame> = frames
        .iter()
        .map(|(_, f)| f)
        .filter(|f| f.state == "ringing")
        .collect();

    ModeResult {
        mode,
        calls: calls.len(),
        play_errors,
        callbacks,
        callback_rate: callbacks as f64 / window.max(0.001),
        callback_errors: world.pipeline.counters.failed.load(Ordering::Relaxed) - failed_before,
        pbx_delivery_failures: stats_after
            .callbacks_failed
            .saturating_sub(stats_before.callbacks_failed),
        lookup_errors: world
            .pipeline
            .counters
            .lookup_errors
            .load(Ordering::Relaxed)
            - lookup_errors_before,
        frames: frames.len(),
        unpaired_frames: paired.iter().filter(|p| p.latency.is_none()).count(),
        missing_end_frames: missing_ends(&calls, &frames, panels),
        ringing_with_match: ringing.iter().filter(|f| f.matches > 0).count(),
        ringing_frames: ringing.len(),
        latency: Summary::of(&latencies),
        ring_latency: Summary::of(&ring),
        cores_conn: sys::cores(&before, &after, |s: &Snapshot| sys::cpu_of(s, CONN)),
        cores_emu: sys::cores(&before, &after, |s: &Snapshot| sys::cpu_of(s, EMU)),
        cores_load: sys::cores(&before, &after, |s: &Snapshot| sys::cpu_of(s, LOAD)),
        cores_total: sys::cores(&before, &after, |s: &Snapshot| s.cpu),
        rss_end: after.rss,
        rss_max,
        api_calls: world
            .org
            .control()
            .api_usage()
            .used
            .saturating_sub(api_before),
        over_step,
        load_average: sys::load_average(),
    }
}

/// The largest RSS seen while the window lasts.
fn sample_rss(window: Duration) -> u64 {
    let end = Instant::now() + window;
    let mut max = 0;
    while Instant::now() < end {
        max = max.max(sys::rss());
        std::thread::sleep(Duration::from_millis(250));
    }
    max
}

/// A frame and the callback that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// Time from the callback to the frame; `None` without a callback to pair with.
    pub latency: Option<Duration>,
    /// The call's first frame at that panel.
    pub first_of_call: bool,
}

/// Pairs each frame with the latest callback of the same call and panel state that arrived
/// before it. Events of a call are a step delay apart and posted one after the other, so
/// this is the callback that caused the frame as long as latencies stay below the step
/// delay (the result counts those that do not).
pub fn pair(marks: &[Mark], frames: &[(usize, Frame)]) -> Vec<Paired> {
    let mut by_key: HashMap<(&str, &str), Vec<Instant>> = HashMap::new();
    for m in marks {
        by_key
            .entry((m.call_id.as_str(), m.frame_state))
            .or_default()
            .push(m.t0);
    }
    for v in by_key.values_mut() {
        v.sort_unstable();
    }
    let mut seen: std::collections::HashSet<(usize, &str)> = std::collections::HashSet::new();
    frames
        .iter()
        .map(|(panel, f)| {
            let first_of_call = seen.insert((*panel, f.call_id.as_str()));
            let latency = by_key
                .get(&(f.call_id.as_str(), f.state.as_str()))
                .and_then(|t0s| {
                    let i = t0s.partition_point(|t0| *t0 <= f.t1);
                    i.checked_sub(1).map(|i| f.t1.duration_since(t0s[i]))
                });
            Paired {
                latency,
                first_of_call,
            }
        })
        .collect()
}

/// (call, panel) pairs of the user's panels that never got the call's `ended` frame.
fn missing_ends(calls: &[(String, String)], frames: &[(usize, Frame)], panels: &Panels) -> usize {
    let ended: std::collections::HashSet<(usize, &str)> = frames
        .iter()
        .filter(|(_, f)| f.state == "ended")
        .map(|(p, f)| (*p, f.call_id.as_str()))
        .collect();
    let mut panels_by_user: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, u) in panels.users.iter().enumerate() {
        panels_by_user.entry(u.as_str()).or_default().push(i);
    }
    calls
        .iter()
        .map(|(id, user)| {
            panels_by_user.get(user.as_str()).map_or(0, |ps| {
                ps.iter()
                    .filter(|p| !ended.contains(&(**p, id.as_str())))
                    .count()
            })
        })
        .sum()
}

/// Opens `n` panels spread over the world's users (panel `i` belongs to user `i mod M`).
pub async fn open_panels(world: &World, n: usize) -> anyhow::Result<(Panels, usize)> {
    let mut tokens: HashMap<String, String> = HashMap::new();
    let mut wanted = Vec::with_capacity(n);
    for i in 0..n {
        let login = world.users[i % world.users.len()].clone();
        let token = match tokens.get(&login) {
            Some(t) => t.clone(),
            None => {
                let t = world.panel_token(&login).await?;
                tokens.insert(login.clone(), t.clone());
                t
            }
        };
        wanted.push((login, token));
    }
    let (panels, errors) =
        Panels::open_all(&world.ws_url(), wanted, 256, Duration::from_secs(30)).await;
    if let Some(e) = errors.first() {
        tracing::warn!(failed = errors.len(), first = %e, "some panels did not open");
    }
    Ok((panels, errors.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(call_id: &str, frame_state: &'static str, t0: Instant) -> Mark {
        Mark {
            call_id: call_id.to_owned(),
            frame_state,
            t0,
        }
    }

    fn frame(id: &str, state: &str, t1: Instant) -> Frame {
        Frame {
            call_id: id.into(),
            state: state.into(),
            matches: 0,
            t1,
        }
    }

    #[test]
    fn a_frame_pairs_with_the_latest_callback_of_its_state_before_it() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let marks = vec![
            mark("a", "ringing", t),
            mark("a", "ringing", t + ms(250)),
            mark("a", "ended", t + ms(500)),
        ];
        let frames = vec![
            (0, frame("a", "ringing", t + ms(1))),
            (0, frame("a", "ringing", t + ms(252))),
            (0, frame("a", "ended", t + ms(503))),
            (1, frame("a", "ringing", t + ms(2))),
            (0, frame("b", "ringing", t + ms(2))),
        ];
        let p = pair(&marks, &frames);
        let got: Vec<_> = p.iter().map(|p| (p.latency, p.first_of_call)).collect();
        assert_eq!(
            got,
            vec![
                (Some(ms(1)), true),
                (Some(ms(2)), false),
                (Some(ms(3)), false),
                (Some(ms(2)), true),
                (None, true),
            ]
        );
    }
}
