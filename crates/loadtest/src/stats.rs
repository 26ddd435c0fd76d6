//! Latency summaries: exact percentiles over every sample (a run has at most a few hundred
//! thousand, so sorting them is cheaper than being approximately right).

use std::fmt;
use std::time::Duration;

/// p50/p99/max of a set of latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// Summarises `samples` (order does not matter); all zero when empty.
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        Self {
            count: sorted.len(),
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            p999: percentile(&sorted, 99.9),
            max: sorted[sorted.len() - 1],
            mean: total / u32::try_from(sorted.len()).unwrap_or(u32::MAX),
        }
    }
}

/// The nearest-rank percentile of sorted, non-empty `sorted`: the smallest sample that at
/// least `p` percent of the samples are less than or equal to.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Milliseconds with three decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} p50={} ms p90={} ms p99={} ms p99.9={} ms max={} ms",
            self.count,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&u| Duration::from_micros(u)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_a_hundred_samples() {
        let samples = micros(&(1..=100).rev().collect::<Vec<_>>());
        let s = Summary::of(&samples);
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_micros(50));
        assert_eq!(s.p99, Duration::from_micros(99));
        assert_eq!(s.max, Duration::from_micros(100));
        assert_eq!(s.mean, Duration::from_nanos(50_500));
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_zero() {
        let s = Summary::of(&micros(&[7]));
        assert_eq!(
            (s.p50, s.p99, s.max),
            (s.max, s.max, Duration::from_micros(7))
        );
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn a_single_outlier_shows_in_max_not_in_p99_of_a_thousand() {
        let mut v = vec![100; 999];
        v.push(50_000);
        let s = Summary::of(&micros(&v));
        assert_eq!(s.p99, Duration::from_micros(100));
        assert_eq!(s.max, Duration::from_micros(50_000));
    }
}
