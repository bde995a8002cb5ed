//! The threshold of the face check, from a session's false match rate.
//!
//! [`TABLE`] maps the false match rate of a whole session to the cosine similarity that gives
//! it, for the reader's decision rule as it is ([`RULE`]; [`crate::check`]: windows of fused
//! frames, the best window counts, and after the mask hint also windows of the same frames
//! aligned as masked faces ([`crate::mask`]), which give an impostor more chances and are
//! therefore part of what the table was measured on). It was measured by `cargo xtask eval-face` on LFW: each
//! image made into a session of reader frames (the face in a 640x480 frame, moved, turned,
//! scaled, lit, blurred and noised a little from frame to frame, found, gated, aligned and
//! embedded as the reader does) against card-like references of other identities (card-portrait
//! size, JPEG 2000 at about 4 KB, fused with the mirror image as the reader does), over all
//! impostor pairs of identity-disjoint folds (`docs/face-accuracy.md` gives the number of
//! impostor comparisons behind the table and each level's confidence intervals). The tool prints
//! a new table whenever the pipeline or the rule changes.
//!
//! The rates are "about": the sessions are made from photographs and their frames vary less
//! than a real session's, so a real impostor's windows are less alike and the true rate of a
//! session may be somewhat higher; the 1e-5 entry rests on some 30 impostor scores.

/// The decision rule the table was measured for: (good frames before a decision and the
/// fusion window, frames compared at most).
pub const RULE: (u32, u32) = (3, 6);

/// (false match rate of one session, cosine threshold), strictest last.
#[rustfmt::skip]
pub const TABLE: &[(f64, f32)] = &[
    (1e-2, 0.3055),
    (3e-3, 0.3434),
    (1e-3, 0.3734),
    (3e-4, 0.4039),
    (1e-4, 0.4258),
    (3e-5, 0.4528),
    (1e-5, 0.4767),
];

/// The accuracy setting of the reader (the maintenance menu chooses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accuracy {
    /// About one false match in 1,000 impostor sessions.
    Relaxed,
    /// About one false match in 10,000 impostor sessions (the default).
    Standard,
    /// About one false match in 100,000 impostor sessions.
    Strict,
}

impl Accuracy {
    /// The session's target false match rate.
    pub fn session_fmr(self) -> f64 {
        match self {
            Accuracy::Relaxed => 1e-3,
            Accuracy::Standard => 1e-4,
            Accuracy::Strict => 1e-5,
        }
    }

    /// The threshold of the reader's rule ([`RULE`]) at this level.
    pub fn threshold(self) -> f32 {
        threshold_for(self.session_fmr())
    }
}

/// The cosine threshold for a session's false match rate: interpolated on the logarithm of the
/// rate; beyond the table, its strictest or most lenient entry.
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
        assert_eq!(threshold_for(1e-3), TABLE.iter().find(|(rate, _)| *rate == 1e-3).unwrap().1);
        assert!(threshold_for(2e-4) > threshold_for(3e-4) && threshold_for(2e-4) < threshold_for(1e-4));
        assert_eq!(threshold_for(1.0), TABLE[0].1);
        assert_eq!(threshold_for(1e-9), TABLE[TABLE.len() - 1].1);
        assert_eq!(Accuracy::Standard.threshold(), threshold_for(1e-4));
        assert!(Accuracy::Strict.threshold() > Accuracy::Standard.threshold());
        assert!(Accuracy::Standard.threshold() > Accuracy::Relaxed.threshold());
    }
}
