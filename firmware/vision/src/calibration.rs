//! The threshold of the face check, from a false match rate.
//!
//! [`TABLE`] maps the false match rate of one comparison (live face against card photo) to the
//! cosine similarity that gives it. It was measured by `cargo xtask eval-face` on LFW, card-like
//! protocol (the reference side greyscale, card-portrait size, JPEG 2000 at about 4 KB, embedded
//! fused with its mirror image as the reader does), over all
//! impostor pairs of identity-disjoint folds (see `docs/face-accuracy.md`: `--every 3`, 3.0 million
//! impostor comparisons, so the 1e-5 entry rests on some 30 impostor scores); the tool prints a new
//! table whenever the pipeline changes.
//!
//! A session compares up to `n` frames and accepts the best, so an impostor gets `n` chances: the
//! per-comparison rate is the session's target divided by `n` (a union bound; frames of one
//! session are correlated, so the true session rate is lower).

/// (false match rate of one comparison, cosine threshold), strictest last.
#[rustfmt::skip]
#[allow(clippy::approx_constant, reason = "measured scores; one happens to be near pi/8")]
pub const TABLE: &[(f64, f32)] = &[
    (1e-2, 0.2935),
    (3e-3, 0.3315),
    (1e-3, 0.3618),
    (3e-4, 0.3926),
    (1e-4, 0.4183),
    (3e-5, 0.4453),
    (1e-5, 0.4673),
];

/// The accuracy setting of the reader (the maintenance menu chooses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accuracy {
    /// A false match in 100 impostor sessions at most.
    Relaxed,
    /// A false match in 1,000 impostor sessions at most (the default).
    Standard,
    /// A false match in 10,000 impostor sessions at most.
    Strict,
}

impl Accuracy {
    /// The session's target false match rate.
    pub fn session_fmr(self) -> f64 {
        match self {
            Accuracy::Relaxed => 1e-2,
            Accuracy::Standard => 1e-3,
            Accuracy::Strict => 1e-4,
        }
    }

    /// The threshold when a session compares up to `compared` frames.
    pub fn threshold(self, compared: u32) -> f32 {
        threshold_for(self.session_fmr() / f64::from(compared.max(1)))
    }
}

/// The cosine threshold for a per-comparison false match rate: interpolated on the logarithm of
/// the rate; beyond the table, its strictest or most lenient entry.
pub fn threshold_for(fmr: f64) -> f32 {
    let (first, last) = (TABLE[0], TABLE[TABLE.len() - 1]);
    if fmr >= first.0 {
        return first.1;
    }
    if fmr <= last.0 {
        return last.1;
    }
    for w in TABLE.windows(2) {
        let ((f0, t0), (f1, t1)) = (w[0], w[1]);
        if fmr <= f0 && fmr >= f1 {
            let k = ((f0.ln() - fmr.ln()) / (f0.ln() - f1.ln())) as f32;
            return t0 + k * (t1 - t0);
        }
    }
    last.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gets_stricter_as_the_rate_falls() {
        assert!(TABLE.windows(2).all(|w| w[0].0 > w[1].0 && w[0].1 < w[1].1));
        assert_eq!(threshold_for(1e-3), 0.3618);
        assert!(threshold_for(2e-4) > threshold_for(3e-4) && threshold_for(2e-4) < threshold_for(1e-4));
        assert_eq!(threshold_for(1.0), TABLE[0].1);
        assert_eq!(threshold_for(1e-9), TABLE[TABLE.len() - 1].1);
        // Best of ten frames at 1e-3 per session needs 1e-4 per comparison.
        assert_eq!(Accuracy::Standard.threshold(10), threshold_for(1e-4));
        assert!(Accuracy::Strict.threshold(10) > Accuracy::Standard.threshold(10));
    }
}
