//! Alignment: the similarity transform (rotation, uniform scale, translation) that best maps the
//! five detected landmarks onto the embedder's reference face (least squares, Umeyama's closed
//! form), and the bilinear warp that produces the 112x112 face.

use crate::{GreyImage, GreyView, Point};

/// The reference landmarks of a 112x112 aligned face (the ArcFace/SFace convention): eyes, nose
/// tip, mouth corners.
pub const REFERENCE: [Point; 5] = [
    Point { x: 38.2946, y: 51.6963 },
    Point { x: 73.5318, y: 51.5014 },
    Point { x: 56.0252, y: 71.7366 },
    Point { x: 41.5493, y: 92.3655 },
    Point { x: 70.7299, y: 92.2041 },
];

/// `x' = a*x - b*y + tx`, `y' = b*x + a*y + ty`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Scale times cos(angle).
    pub a: f64,
    /// Scale times sin(angle).
    pub b: f64,
    /// Translation x.
    pub tx: f64,
    /// Translation y.
    pub ty: f64,
}

impl Similarity {
    /// Least-squares similarity mapping `from` onto `to`.
    pub fn estimate(from: &[Point], to: &[Point]) -> Similarity {
        let n = from.len().min(to.len()).max(1) as f64;
        let mean = |p: &[Point]| {
            let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + f64::from(q.x), y + f64::from(q.y)));
            (sx / n, sy / n)
        };
        let (fx, fy) = mean(from);
        let (tx, ty) = mean(to);
        let (mut sxx, mut sab, mut sba) = (0.0, 0.0, 0.0);
        for (p, q) in from.iter().zip(to) {
            let (px, py) = (f64::from(p.x) - fx, f64::from(p.y) - fy);
            let (qx, qy) = (f64::from(q.x) - tx, f64::from(q.y) - ty);
            sxx += px * px + py * py;
            sab += px * qx + py * qy;
            sba += px * qy - py * qx;
        }
        let (a, b) = if sxx > 0.0 { (sab / sxx, sba / sxx) } else { (1.0, 0.0) };
        Similarity { a, b, tx: tx - (a * fx - b * fy), ty: ty - (b * fx + a * fy) }
    }

    /// Maps a point.
    pub fn apply(&self, p: Point) -> Point {
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        Point { x: (self.a * x - self.b * y + self.tx) as f32, y: (self.b * x + self.a * y + self.ty) as f32 }
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Similarity {
        let d = (self.a * self.a + self.b * self.b).max(1e-12);
        let (a, b) = (self.a / d, -self.b / d);
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    /// The scale factor.
    pub fn scale(&self) -> f64 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

fn bilinear(src: &GreyView<'_>, x: f64, y: f64) -> u8 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let p = |dx: i64, dy: i64| f64::from(src.at(x0 + dx, y0 + dy));
    let top = p(0, 0) * (1.0 - fx) + p(1, 0) * fx;
    let bottom = p(0, 1) * (1.0 - fx) + p(1, 1) * fx;
    (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
}

/// The `size` x `size` face: each output pixel sampled from `src` through the inverse of
/// `to_output`.
pub fn warp(src: GreyView<'_>, to_output: &Similarity, size: u32) -> GreyImage {
    let back = to_output.inverse();
    let mut pixels = Vec::with_capacity((size * size) as usize);
    for y in 0..size {
        for x in 0..size {
            let p = back.apply(Point { x: x as f32, y: y as f32 });
            pixels.push(bilinear(&src, f64::from(p.x), f64::from(p.y)));
        }
    }
    GreyImage::new(size, size, pixels).expect("size * size pixels")
}

/// Aligns the face with `landmarks` in `src` to the 112x112 reference.
pub fn align(src: GreyView<'_>, landmarks: &[Point; 5]) -> GreyImage {
    warp(src, &Similarity::estimate(landmarks, &REFERENCE), 112)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_and_inverted() {
        let truth = Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -5.0 };
        let from: Vec<Point> = REFERENCE.to_vec();
        let to: Vec<Point> = from.iter().map(|&p| truth.apply(p)).collect();
        let est = Similarity::estimate(&from, &to);
        assert!((est.a - truth.a).abs() < 1e-4 && (est.b - truth.b).abs() < 1e-4, "{est:?}");
        assert!((est.tx - truth.tx).abs() < 1e-3 && (est.ty - truth.ty).abs() < 1e-3, "{est:?}");
        let back = est.inverse().apply(est.apply(Point { x: 3.0, y: 4.0 }));
        assert!((back.x - 3.0).abs() < 1e-4 && (back.y - 4.0).abs() < 1e-4);
    }

    #[test]
    fn warping_with_the_identity_copies_the_image() {
        let pixels: Vec<u8> = (0..112 * 112).map(|i| (i % 251) as u8).collect();
        let src = GreyImage::new(112, 112, pixels.clone()).unwrap();
        let id = Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };
        assert_eq!(warp(src.view(), &id, 112).pixels(), &pixels[..]);
    }
}
