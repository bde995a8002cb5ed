//! Log lines about what a peer sends, bounded: a terminal that floods the link with garbage gets a
//! few lines saying so and then one line per minute counting what was left out, never a line per
//! bad frame (200 KB of garbage once wrote 8 MB of log).

use std::time::{Duration, Instant};

/// At most `burst` lines per `window`; the rest are counted and reported once the window ends.
pub struct LogLimit {
    burst: u32,
    window: Duration,
    started: Option<Instant>,
    written: u32,
    left_out: u64,
}

impl LogLimit {
    /// A limit of `burst` lines per `window`.
    pub const fn new(burst: u32, window: Duration) -> LogLimit {
        LogLimit { burst, window, started: None, written: 0, left_out: 0 }
    }

    /// Whether a line about one more event may be written at `now`. When a window ends with lines
    /// left out, the first call after it returns their count so that the caller says so.
    pub fn admit(&mut self, now: Instant) -> Admit {
        let mut left_out = 0;
        match self.started {
            Some(start) if now.duration_since(start) < self.window => {}
            _ => {
                left_out = std::mem::take(&mut self.left_out);
                self.started = Some(now);
                self.written = 0;
            }
        }
        if self.written < self.burst {
            self.written += 1;
            Admit::Write { left_out }
        } else {
            self.left_out += 1;
            Admit::Quiet
        }
    }

    /// How many lines were left out in the current window so far.
    pub fn left_out(&self) -> u64 {
        self.left_out
    }
}

/// What [`LogLimit::admit`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Write the line; `left_out` lines of the window before were not written.
    Write {
        /// Lines left out in the previous window.
        left_out: u64,
    },
    /// Count it, write nothing.
    Quiet,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_a_burst_then_one_count_per_window() {
        let mut limit = LogLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let admitted = (0..1000).filter(|_| matches!(limit.admit(t0), Admit::Write { .. })).count();
        assert_eq!(admitted, 3);
        assert_eq!(limit.left_out(), 997);
        // The next window's first line carries the count of what was left out.
        assert_eq!(limit.admit(t0 + Duration::from_secs(61)), Admit::Write { left_out: 997 });
        assert_eq!(limit.left_out(), 0);
        assert_eq!(limit.admit(t0 + Duration::from_secs(62)), Admit::Write { left_out: 0 });
    }
}
