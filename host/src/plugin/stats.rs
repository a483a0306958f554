//! Per-plugin call accounting and the circuit breaker that sets a failing
//! plugin aside.
//!
//! A plugin that fails `failures` calls in a row is skipped (its callers get
//! the built-in behaviour at once, without paying for a doomed call) for a
//! backoff that doubles with each reopening, up to a ceiling. When the backoff
//! has passed, the next call is a probe: success closes the circuit, failure
//! reopens it. A reload starts from a closed circuit.

use crate::config::CircuitConfig;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Latencies kept for percentiles.
const LATENCY_WINDOW: usize = 1024;

#[derive(Debug, Default)]
pub struct CallStats {
    pub calls: u64,
    pub failures: u64,
    latencies_us: VecDeque<u64>,
}

impl CallStats {
    pub fn record(&mut self, latency: Duration, failed: bool) {
        self.calls += 1;
        self.failures += u64::from(failed);
        if self.latencies_us.len() == LATENCY_WINDOW {
            self.latencies_us.pop_front();
        }
        self.latencies_us.push_back(latency.as_micros() as u64);
    }

    /// The `q`-quantile (0.0-1.0) of recent call latencies, in microseconds.
    pub fn latency_us(&self, q: f64) -> Option<u64> {
        let mut sorted: Vec<u64> = self.latencies_us.iter().copied().collect();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        Some(sorted[((last as f64) * q).round() as usize])
    }
}

#[derive(Debug, Default)]
pub struct Circuit {
    consecutive_failures: u32,
    openings: u32,
    open_until: Option<Instant>,
}

impl Circuit {
    /// `Some(remaining)` while the circuit is open.
    pub fn open_for(&self, now: Instant) -> Option<Duration> {
        self.open_until.filter(|until| *until > now).map(|until| until - now)
    }

    pub fn on_success(&mut self) {
        *self = Circuit::default();
    }

    /// Records a failure; returns the backoff when this failure opened the circuit.
    pub fn on_failure(&mut self, config: &CircuitConfig, now: Instant) -> Option<Duration> {
        self.consecutive_failures += 1;
        if self.consecutive_failures < config.failures.max(1) {
            return None;
        }
        self.openings += 1;
        let factor = 1u64 << (self.openings - 1).min(20);
        let backoff = Duration::from_millis(config.backoff_ms.saturating_mul(factor).min(config.max_backoff_ms));
        self.open_until = Some(now + backoff);
        Some(backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recent_calls() {
        let mut stats = CallStats::default();
        for us in 1..=100 {
            stats.record(Duration::from_micros(us), us % 10 == 0);
        }
        assert_eq!((stats.calls, stats.failures), (100, 10));
        assert_eq!(stats.latency_us(0.5), Some(51));
        assert_eq!(stats.latency_us(0.99), Some(99));
        assert_eq!(CallStats::default().latency_us(0.5), None);
    }

    #[test]
    fn circuit_opens_after_consecutive_failures_and_backs_off() {
        let config = CircuitConfig { failures: 3, backoff_ms: 100, max_backoff_ms: 250 };
        let mut circuit = Circuit::default();
        let t0 = Instant::now();
        assert_eq!(circuit.on_failure(&config, t0), None);
        assert_eq!(circuit.on_failure(&config, t0), None);
        assert_eq!(circuit.on_failure(&config, t0), Some(Duration::from_millis(100)));
        assert!(circuit.open_for(t0).is_some());
        // After the backoff a probe is allowed; failing it reopens for longer.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(circuit.open_for(t1), None);
        assert_eq!(circuit.on_failure(&config, t1), Some(Duration::from_millis(200)));
        assert_eq!(circuit.on_failure(&config, t1), Some(Duration::from_millis(250)));
        circuit.on_success();
        assert_eq!(circuit.open_for(t1), None);
        assert_eq!(circuit.on_failure(&config, t1), None);
    }
}
