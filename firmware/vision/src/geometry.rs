//! Plane geometry for the card camera: the homography between four points and four others
//! (a card's corners in a camera frame and its rectangle), and the perspective warp with bilinear
//! sampling. Used both ways: the OCR pipeline rectifies the card it finds, the simulated card
//! camera places a rendered card into a frame.

/// A 3x3 projective transform, row-major, `h[8] == 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography([f64; 9]);

impl Homography {
    /// The transform taking each `from[i]` to `to[i]`; `None` when three of the points are on a line.
    pub fn from_points(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<Homography> {
        // h0 x + h1 y + h2 - h6 x u - h7 y u = u, and the same for v.
        let mut a = [[0f64; 9]; 8];
        for i in 0..4 {
            let ((x, y), (u, v)) = (from[i], to[i]);
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
        }
        // Gaussian elimination with partial pivoting.
        for col in 0..8 {
            let pivot = (col..8).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
            if a[pivot][col].abs() < 1e-12 {
                return None;
            }
            a.swap(col, pivot);
            for row in 0..8 {
                if row != col {
                    let f = a[row][col] / a[col][col];
                    let pivot_row = a[col];
                    for (x, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                        *x -= f * p;
                    }
                }
            }
        }
        let mut h = [0f64; 9];
        for i in 0..8 {
            h[i] = a[i][8] / a[i][i];
        }
        h[8] = 1.0;
        h.iter().all(|v| v.is_finite()).then_some(Homography(h))
    }

    /// Where `(x, y)` goes; `None` on the line the transform sends to infinity.
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        if w.abs() < 1e-12 {
            return None;
        }
        Some(((h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w))
    }
}

/// The value at `(x, y)` of a `width x height` image, bilinear; `None` outside it.
pub fn bilinear(pixels: &[u8], width: u32, height: u32, x: f64, y: f64) -> Option<f32> {
    if !(x >= -0.5 && y >= -0.5 && x <= width as f64 - 0.5 && y <= height as f64 - 0.5) {
        return None;
    }
    let x = x.clamp(0.0, width as f64 - 1.0);
    let y = y.clamp(0.0, height as f64 - 1.0);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width as usize - 1), (y0 + 1).min(height as usize - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let w = width as usize;
    let p = |xx: usize, yy: usize| f32::from(pixels[yy * w + xx]);
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    Some(top * (1.0 - fy) + bottom * fy)
}

/// A `out_width x out_height` image whose pixel `(x, y)` is the source's at `to_source(x, y)`
/// (pixel centres), `fill` where that falls outside the source.
pub fn warp(
    pixels: &[u8],
    width: u32,
    height: u32,
    to_source: &Homography,
    out_width: u32,
    out_height: u32,
    fill: u8,
) -> Vec<u8> {
    let mut out = vec![fill; out_width as usize * out_height as usize];
    for y in 0..out_height {
        for x in 0..out_width {
            if let Some((sx, sy)) = to_source.apply(f64::from(x), f64::from(y))
                && let Some(v) = bilinear(pixels, width, height, sx, sy)
            {
                out[(y * out_width + x) as usize] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_homography_maps_each_corner_to_its_partner_and_is_undone_by_the_reverse_one() {
        let card = [(0.0, 0.0), (856.0, 0.0), (856.0, 540.0), (0.0, 540.0)];
        let frame = [(210.0, 95.0), (1090.0, 120.0), (1060.0, 660.0), (190.0, 630.0)];
        let h = Homography::from_points(card, frame).unwrap();
        let back = Homography::from_points(frame, card).unwrap();
        for (c, f) in card.iter().zip(&frame) {
            let (u, v) = h.apply(c.0, c.1).unwrap();
            assert!((u - f.0).abs() < 1e-6 && (v - f.1).abs() < 1e-6);
        }
        let (u, v) = h.apply(400.0, 300.0).unwrap();
        let (x, y) = back.apply(u, v).unwrap();
        assert!((x - 400.0).abs() < 1e-6 && (y - 300.0).abs() < 1e-6);
    }

    #[test]
    fn three_points_on_a_line_have_no_homography() {
        let line = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (0.0, 5.0)];
        assert!(Homography::from_points(line, [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]).is_none());
    }

    #[test]
    fn warping_by_a_shift_moves_the_pixels_and_fills_outside() {
        let src: Vec<u8> = (0..16).map(|v| v * 10).collect();
        let shift = Homography::from_points(
            [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)],
            [(1.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0)],
        )
        .unwrap();
        let out = warp(&src, 4, 4, &shift, 4, 4, 7);
        assert_eq!(&out[0..4], &[10, 20, 30, 7]);
    }
}
