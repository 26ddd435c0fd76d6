//! What the process costs: CPU time (whole process and per thread-name prefix, so that the
//! connector's runtime can be told from the emulators' and the load clients') and memory,
//! read from `/proc` (Linux only; elsewhere the numbers are absent, never wrong).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/*/stat` CPU fields. Linux has reported times in
/// USER_HZ = 100 on every mainstream architecture for decades (`getconf CLK_TCK`).
const TICKS_PER_SECOND: u64 = 100;

/// A reading of the process at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Option<Instant>,
    /// CPU time of the whole process (user + system).
    pub cpu: Duration,
    /// CPU time of live threads, by thread name (the kernel's 15-character `comm`).
    pub cpu_by_thread: BTreeMap<String, Duration>,
    /// Resident set size now, bytes.
    pub rss: u64,
    /// Peak resident set size so far, bytes.
    pub rss_peak: u64,
    /// Open file descriptors.
    pub fds: usize,
}

/// Reads the process now.
pub fn snapshot() -> Snapshot {
    let mut s = Snapshot {
        at: Some(Instant::now()),
        ..Default::default()
    };
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, cpu)) = parse_stat(&stat)
    {
        s.cpu = cpu;
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        s.rss = status_kb(&status, "VmRSS:").unwrap_or(0) * 1024;
        s.rss_peak = status_kb(&status, "VmHWM:").unwrap_or(0) * 1024;
    }
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((name, cpu)) = parse_stat(&stat) {
                *s.cpu_by_thread.entry(name).or_default() += cpu;
            }
        }
    }
    s.fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    s
}

/// Resident set size now, bytes (cheap: one small file).
pub fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_kb(&s, "VmRSS:"))
        .unwrap_or(0)
        * 1024
}

/// The thread name and user + system CPU time from a `/proc/*/stat` line.
///
/// The name sits in parentheses and may itself contain spaces or parentheses, so the fields
/// are counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<(String, Duration)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let name = line.get(open + 1..close)?.to_owned();
    // After ")": state(3) ppid(4) ... utime(14) stime(15); index 0 here is field 3.
    let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = utime + stime;
    Some((name, Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)))
}

/// Samples RSS in a thread of its own until stopped, keeping the highest value: a peak
/// between two snapshots (a page decoded, then freed) would be missed otherwise.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    /// Starts sampling every `every`.
    pub fn start(every: Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let mut peak = rss();
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(every);
                    peak = peak.max(rss());
                }
                peak.max(rss())
            })
            .ok();
        Self { stop, thread }
    }

    /// Stops sampling; the highest RSS seen, bytes (0 when the thread could not start).
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

/// A `Key:   1234 kB` line of `/proc/*/status`, in kB.
pub fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// CPU used between two snapshots, as cores busy on average (1.0 = one core all the time).
pub fn cores(before: &Snapshot, after: &Snapshot, cpu: impl Fn(&Snapshot) -> Duration) -> f64 {
    let (Some(a), Some(b)) = (before.at, after.at) else {
        return 0.0;
    };
    let wall = b.saturating_duration_since(a).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    cpu(after).saturating_sub(cpu(before)).as_secs_f64() / wall
}

/// CPU time of the threads whose name starts with `prefix`.
pub fn cpu_of(s: &Snapshot, prefix: &str) -> Duration {
    s.cpu_by_thread
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, d)| *d)
        .sum()
}

/// Raises the soft limit of open files to the hard limit (5,000 panels need 10,000+
/// sockets in one process: each connection has both ends here). Returns the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The 1-minute load average (`/proc/loadavg`): how busy the machine was with everything,
/// this process and others.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Megabytes, for reports.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test
mod tests {
    use super::*;

    #[test]
    fn stat_line_gives_name_and_cpu_even_with_parentheses_in_the_name() {
        let line = "4242 (conn (rt) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 \
                    3 0 100 1000 10 18446744073709551615";
        let (name, cpu) = parse_stat(line).unwrap();
        assert_eq!(name, "conn (rt) 1");
        assert_eq!(cpu, Duration::from_secs(3));
    }

    #[test]
    fn status_values_are_read_in_kilobytes() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kb(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn the_sampler_sees_memory_that_was_freed_before_it_stopped() {
        let s = RssSampler::start(Duration::from_millis(5));
        let before = rss();
        let mut big = vec![1u8; 64 << 20];
        big[12345] = 2;
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(std::hint::black_box(&big)[12345], 2);
        drop(big);
        let peak = s.stop();
        assert!(peak >= before + (48 << 20), "peak {peak}, before {before}");
    }

    #[test]
    fn this_process_can_be_read() {
        let s = snapshot();
        assert!(s.rss > 0);
        assert!(!s.cpu_by_thread.is_empty());
    }
}
