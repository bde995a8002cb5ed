//! The speaker: chimes and voice guidance as 16-bit mono PCM.

use crate::Error;

/// A sound output.
pub trait Speaker {
    /// The implementation's error.
    type Error: Error;
    /// Plays `samples` (signed 16-bit mono at `rate` Hz) to the end.
    fn play(&mut self, samples: &[i16], rate: u32) -> Result<(), Self::Error>;
}

/// The reader's chime: two sine tones (high then low, like a door chime), with short fades so the
/// speaker does not click. `rate` is the sample rate in Hz.
pub fn chime(rate: u32) -> Vec<i16> {
    const TONES: [(f64, f64); 2] = [(880.0, 0.25), (660.0, 0.35)];
    let mut out = Vec::new();
    for (freq, secs) in TONES {
        let n = (f64::from(rate) * secs) as usize;
        let fade = (f64::from(rate) * 0.01) as usize;
        for i in 0..n {
            let edge = i.min(n - 1 - i).min(fade) as f64 / fade.max(1) as f64;
            let v = (2.0 * core::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin();
            out.push((v * edge * 0.5 * f64::from(i16::MAX)) as i16);
        }
    }
    out
}

/// Strength of one frequency in `samples` (Goertzel), normalised to the signal's total energy:
/// close to 1 when `freq` dominates, close to 0 when absent. Used by the loopback self-test.
pub fn tone_share(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * core::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 { 0.0 } else { 2.0 * power / (energy * samples.len() as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chime_is_two_tones() {
        let rate = 16_000;
        let pcm = chime(rate);
        let first = &pcm[..4000];
        let second = &pcm[4000..];
        assert!(tone_share(first, rate, 880.0) > 0.8, "{}", tone_share(first, rate, 880.0));
        assert!(tone_share(first, rate, 660.0) < 0.05);
        assert!(tone_share(second, rate, 660.0) > 0.8);
        assert!(tone_share(second, rate, 880.0) < 0.05);
    }

    #[test]
    fn silence_has_no_tone() {
        assert_eq!(tone_share(&[0; 1600], 16_000, 880.0), 0.0);
        assert_eq!(tone_share(&[], 16_000, 880.0), 0.0);
    }
}
