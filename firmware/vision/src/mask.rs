//! The landmarks of a face behind a mask, corrected.
//!
//! Under a mask the detector still finds the face, but it guesses where the hidden nose and
//! mouth are: on `eval-face`'s masked pictures it puts the mouth some 6.5 pixels of the aligned
//! 112x112 face too low and the eyes 2 pixels too far apart, and the faces aligned with those
//! landmarks lose most of what is lost under a mask (`docs/face-attribution.md`). [`corrected`]
//! moves the landmarks by a linear map of the detection as seen in the face's own aligned frame
//! (its five landmarks and its box) to where the face's landmarks would be without the mask;
//! [`CORRECTION`] was learned by `cargo xtask eval-face --masks` (ridge least squares) on LFW
//! identities disjoint from the default run's, with the evaluation's drawn mask. A real mask
//! (another height, colour or a nose wire) may move the detector's points differently: the
//! reader uses the corrected landmarks only for a second comparison after it has asked the
//! patient to lower the mask ([`crate::check`]), never in place of the plain one.

use crate::align::{REFERENCE, Similarity};
use crate::{Detection, Point};

/// The features [`corrected`] reads from a detection, in the face's aligned frame (the
/// similarity that maps its landmarks onto [`REFERENCE`]): 1, each landmark's offset from its
/// reference point (x, y), the box's top-left corner and its bottom-right corner less 112.
pub const FEATURES: usize = 15;

/// A linear map from [`features`] to each landmark's offset in the aligned frame: one row per
/// coordinate (x of the right eye, its y, ... y of the left mouth corner).
pub type Coefficients = [[f32; FEATURES]; 10];

/// The reader's correction, printed by `cargo xtask eval-face --masks` ("The mask's effect on
/// the landmarks": 1,483 masked images of identities the default run does not use).
#[rustfmt::skip]
pub const CORRECTION: Coefficients = [
    [-2.11481, -0.11662, 0.38994, 0.69897, -0.18163, 0.06615, -0.05121, -0.08269, 0.43489, -0.56581, -0.59200, 0.13585, 0.00619, -0.12929, -0.01629],
    [1.87858, 0.24114, -0.40624, -0.70538, 0.52870, 0.17299, -0.04323, -0.11059, -0.00310, 0.40180, -0.07614, -0.02167, 0.11216, 0.13650, 0.02513],
    [-1.23690, -0.37316, -0.30365, 0.32003, -0.22776, 0.28131, 0.03789, -0.19746, 0.42338, -0.03071, 0.07012, 0.08428, -0.09165, 0.04472, 0.06136],
    [0.00157, 0.63033, 0.47397, -0.59675, 0.07508, 0.16241, -0.14158, -0.35347, -0.28977, 0.15744, -0.11771, 0.06760, 0.00346, 0.03724, 0.06067],
    [-0.00719, -0.05568, -0.25883, 0.77002, -0.29588, -0.34746, 0.02583, -0.18242, 1.00041, -0.18447, -0.47155, -0.07189, -0.00546, -0.17601, -0.05746],
    [1.06596, 0.04456, 0.25062, -0.83910, 1.16408, 0.48313, -0.69836, 0.14898, -0.58540, 0.16240, -0.13095, 0.03654, -0.03669, 0.18364, 0.05237],
    [0.28038, 0.12444, 0.12112, 0.63200, -0.47982, -0.01790, -0.00495, -0.54759, 0.86661, -0.19095, -0.50297, 0.01261, 0.09224, -0.02244, -0.05326],
    [-2.39325, -0.00641, 0.44085, -1.30681, 1.26274, 0.77826, 0.03042, 0.29979, -1.67160, 0.23514, -0.06244, 0.03937, -0.02756, 0.38566, 0.12123],
    [0.84776, -0.86053, -0.53031, 0.97368, -0.59804, 0.24850, 0.13053, 0.08506, 0.80368, -0.44669, 0.19411, 0.01635, 0.04400, 0.16515, 0.03967],
    [-4.22054, 0.34142, 0.65415, -1.17546, 1.51612, 0.75328, -0.04925, 0.13683, -1.19477, -0.05611, -0.92627, 0.11090, -0.12334, 0.29027, 0.14785],
];

/// The similarity from `d`'s landmarks onto the reference, and `d`'s features in that frame.
pub fn features(d: &Detection) -> (Similarity, [f32; FEATURES]) {
    let s = Similarity::estimate(&d.landmarks, &REFERENCE);
    let mut f = [0.0; FEATURES];
    f[0] = 1.0;
    for (i, (p, r)) in d.landmarks.iter().zip(&REFERENCE).enumerate() {
        let q = s.apply(*p);
        f[1 + 2 * i] = q.x - r.x;
        f[2 + 2 * i] = q.y - r.y;
    }
    let a = s.apply(Point { x: d.x, y: d.y });
    let b = s.apply(Point { x: d.x + d.width, y: d.y + d.height });
    f[11..].copy_from_slice(&[a.x, a.y, b.x - 112.0, b.y - 112.0]);
    (s, f)
}

/// `d`'s landmarks moved by `offsets` (x, y of each, in the face's aligned frame `s`), back in
/// the picture's coordinates.
pub fn moved(d: &Detection, s: &Similarity, offsets: &[(f32, f32); 5]) -> [Point; 5] {
    let back = s.inverse();
    core::array::from_fn(|i| {
        let p = s.apply(d.landmarks[i]);
        back.apply(Point { x: p.x + offsets[i].0, y: p.y + offsets[i].1 })
    })
}

/// `d`'s landmarks corrected by `coefficients`.
pub fn corrected_by(d: &Detection, coefficients: &Coefficients) -> [Point; 5] {
    let (s, f) = features(d);
    let at = |row: usize| coefficients[row].iter().zip(&f).map(|(w, x)| w * x).sum::<f32>();
    moved(d, &s, &core::array::from_fn(|i| (at(2 * i), at(2 * i + 1))))
}

/// `d`'s landmarks where the face's would be without a mask, by the reader's [`CORRECTION`].
pub fn corrected(d: &Detection) -> [Point; 5] {
    corrected_by(d, &CORRECTION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(k: f32, dx: f32) -> Detection {
        let landmarks = REFERENCE.map(|p| Point { x: p.x * k + dx, y: p.y * k + 10.0 });
        Detection { x: dx, y: 10.0, width: 112.0 * k, height: 112.0 * k, score: 0.9, landmarks }
    }

    #[test]
    fn features_do_not_depend_on_where_the_face_is_or_its_size() {
        let (_, a) = features(&face(1.0, 0.0));
        let (_, b) = features(&face(3.0, 200.0));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3), "{a:?} {b:?}");
        // On the reference face itself every landmark offset is zero.
        assert!(a[1..11].iter().all(|v| v.abs() < 1e-3));
    }

    #[test]
    fn offsets_are_in_the_aligned_frame_and_scale_with_the_face() {
        // One pixel of the aligned face down for the left mouth corner is three pixels of a face
        // three times as large.
        let mut c: Coefficients = [[0.0; FEATURES]; 10];
        c[9][0] = 1.0;
        let d = face(3.0, 200.0);
        let moved = corrected_by(&d, &c);
        assert!((moved[4].y - d.landmarks[4].y - 3.0).abs() < 1e-3);
        assert!((moved[4].x - d.landmarks[4].x).abs() < 1e-3);
        assert!(moved[..4].iter().zip(&d.landmarks).all(|(a, b)| (a.x - b.x).abs() < 1e-3 && (a.y - b.y).abs() < 1e-3));
    }

    #[test]
    fn the_readers_correction_lowers_nothing_it_should_not() {
        // The learned map moves the mouth up (the detector puts it too low under a mask) and
        // leaves an unmasked reference face's landmarks within a few aligned pixels.
        let d = face(2.0, 50.0);
        let s = Similarity::estimate(&d.landmarks, &REFERENCE);
        let moved = corrected(&d).map(|p| s.apply(p));
        for (p, r) in moved.iter().zip(&REFERENCE) {
            assert!((p.x - r.x).abs() < 8.0 && (p.y - r.y).abs() < 8.0, "{p:?} {r:?}");
        }
    }
}
