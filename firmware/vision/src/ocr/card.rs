//! Finding the card in the card camera's frame and rectifying it.
//!
//! The slot's interior is dark and the card's face light: on a 4x smaller copy of the frame, the
//! brightness threshold that best splits the two (Otsu's) gives the card as the largest bright
//! region. Its four corners are first the region's extremes along the diagonals; each side is
//! then fitted as a straight line through the region's border between two corners (twice, the
//! second time without the points far from the first line: a thumb or glare on an edge), and the
//! corners are where the lines meet. The quadrilateral must have a card's proportions. The card is
//! then warped to 856x540 (10 pixels per millimetre), or only the regions the reader reads.

use super::layout::{CARD_HEIGHT_MM, CARD_WIDTH_MM, PX_PER_MM, Rect};
use crate::GreyImage;
use crate::geometry::{Homography, bilinear};

const SHRINK: u32 = 4;

/// Why no card was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// Nothing bright enough to be a card.
    NoCard,
    /// Something is there, but it is cut off by the frame's edge or not card-shaped.
    NotCardShaped,
}

/// The card's corners in the frame: top-left, top-right, bottom-right, bottom-left as the frame
/// shows them (for a card lying upside down, the printed bottom-right is first).
pub type Quad = [(f64, f64); 4];

/// Finds the card in a `width x height` greyscale frame.
pub fn find(pixels: &[u8], width: u32, height: u32) -> Result<Quad, NotFound> {
    let (w, h) = (width / SHRINK, height / SHRINK);
    if w < 16 || h < 16 || pixels.len() < (width * height) as usize {
        return Err(NotFound::NoCard);
    }
    let small: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let mut sum = 0u32;
            for dy in 0..SHRINK {
                let row = ((y * SHRINK + dy) * width + x * SHRINK) as usize;
                sum += pixels[row..row + SHRINK as usize].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
            (sum / (SHRINK * SHRINK)) as u8
        })
        .collect();
    let t = otsu(&small);
    // A card's face is far brighter than the slot: a frame without such contrast shows no card.
    let (dark, bright) = class_means(&small, t);
    if bright - dark < 40.0 || bright < 90.0 {
        return Err(NotFound::NoCard);
    }
    let region = largest_region(&small, w, h, t);
    let area = region.len() as f64 / f64::from(w * h);
    if area < 0.12 {
        return Err(NotFound::NoCard);
    }
    let inside = |x: i64, y: i64| x >= 0 && y >= 0 && x < i64::from(w) && y < i64::from(h);
    let mut mask = vec![false; (w * h) as usize];
    for &(x, y) in &region {
        mask[(y * w + x) as usize] = true;
    }
    // The region must not touch the frame's border much (a card cut off by the frame).
    let touching = region.iter().filter(|&&(x, y)| x == 0 || y == 0 || x == w - 1 || y == h - 1).count();
    if touching as f64 > 0.02 * f64::from(2 * (w + h)) {
        return Err(NotFound::NotCardShaped);
    }
    let border: Vec<(f64, f64)> = region
        .iter()
        .filter(|&&(x, y)| {
            [(-1, 0), (1, 0), (0, -1), (0, 1)].iter().any(|(dx, dy)| {
                let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                !inside(nx, ny) || !mask[(ny as u32 * w + nx as u32) as usize]
            })
        })
        .map(|&(x, y)| (f64::from(x) + 0.5, f64::from(y) + 0.5))
        .collect();
    let extreme = |f: &dyn Fn(&(f64, f64)) -> f64| {
        border.iter().copied().max_by(|a, b| f(a).total_cmp(&f(b))).unwrap_or((0.0, 0.0))
    };
    let mut corners =
        [extreme(&|p| -(p.0 + p.1)), extreme(&|p| p.0 - p.1), extreme(&|p| p.0 + p.1), extreme(&|p| p.1 - p.0)];
    // Fit each side and intersect neighbours.
    let mut lines = Vec::with_capacity(4);
    for i in 0..4 {
        let (a, b) = (corners[i], corners[(i + 1) % 4]);
        lines.push(fit_side(&border, a, b).ok_or(NotFound::NotCardShaped)?);
    }
    for (i, corner) in corners.iter_mut().enumerate() {
        *corner = intersect(lines[(i + 3) % 4], lines[i]).ok_or(NotFound::NotCardShaped)?;
    }
    let s = f64::from(SHRINK);
    let quad: Quad = corners.map(|(x, y)| (x * s, y * s));
    let side = |i: usize| {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    };
    let (long, short) = ((side(0) + side(2)) / 2.0, (side(1) + side(3)) / 2.0);
    let ratio = long / short.max(1.0);
    let card_ratio = f64::from(CARD_WIDTH_MM / CARD_HEIGHT_MM);
    if !(card_ratio * 0.82..card_ratio * 1.18).contains(&ratio) || area > 0.97 {
        return Err(NotFound::NotCardShaped);
    }
    Ok(quad)
}

/// The card inside `quad` rectified to 856x540 (10 px/mm); `upside_down` turns it
/// by half a turn (the quad's first corner is then the printed bottom-right).
pub fn rectify(pixels: &[u8], width: u32, height: u32, quad: &Quad, upside_down: bool) -> Option<GreyImage> {
    let whole = Rect { x0: 0.0, y0: 0.0, x1: CARD_WIDTH_MM, y1: CARD_HEIGHT_MM };
    rectify_region(pixels, width, height, quad, upside_down, whole, PX_PER_MM)
}

/// One region of the card (millimetres) rectified at `px_per_mm`: the reader rectifies only the
/// windows it reads, not the whole card.
pub fn rectify_region(
    pixels: &[u8],
    width: u32,
    height: u32,
    quad: &Quad,
    upside_down: bool,
    r: Rect,
    px_per_mm: f32,
) -> Option<GreyImage> {
    let (w, h) = (f64::from(CARD_WIDTH_MM), f64::from(CARD_HEIGHT_MM));
    let card_mm =
        if upside_down { [(w, h), (0.0, h), (0.0, 0.0), (w, 0.0)] } else { [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)] };
    let to_frame = Homography::from_points(card_mm, *quad)?;
    let (out_w, out_h) = (((r.x1 - r.x0) * px_per_mm).round() as u32, ((r.y1 - r.y0) * px_per_mm).round() as u32);
    if out_w == 0 || out_h == 0 {
        return None;
    }
    let step = 1.0 / f64::from(px_per_mm);
    // The output pixel (x, y) is the card's point at its centre; the frame's pixel (i, j) has its
    // centre at (i + 0.5, j + 0.5).
    let mut out = vec![0u8; (out_w * out_h) as usize];
    for y in 0..out_h {
        let my = f64::from(r.y0) + (f64::from(y) + 0.5) * step;
        for x in 0..out_w {
            let mx = f64::from(r.x0) + (f64::from(x) + 0.5) * step;
            if let Some((fx, fy)) = to_frame.apply(mx, my)
                && let Some(v) = bilinear(pixels, width, height, fx - 0.5, fy - 0.5)
            {
                out[(y * out_w + x) as usize] = v.round() as u8;
            }
        }
    }
    GreyImage::new(out_w, out_h, out)
}

/// A window of the rectified card (millimetres) as its own image.
pub fn crop(card: &GreyImage, r: Rect) -> GreyImage {
    let x0 = ((r.x0 * PX_PER_MM).max(0.0) as u32).min(card.width() - 1);
    let y0 = ((r.y0 * PX_PER_MM).max(0.0) as u32).min(card.height() - 1);
    let x1 = ((r.x1 * PX_PER_MM) as u32).clamp(x0 + 1, card.width());
    let y1 = ((r.y1 * PX_PER_MM) as u32).clamp(y0 + 1, card.height());
    let mut out = Vec::with_capacity(((x1 - x0) * (y1 - y0)) as usize);
    for y in y0..y1 {
        let row = (y * card.width()) as usize;
        out.extend_from_slice(&card.pixels()[row + x0 as usize..row + x1 as usize]);
    }
    GreyImage::new(x1 - x0, y1 - y0, out).expect("sizes match")
}

/// A field window cut to its text line: the rows holding ink (frame lines, which cross the
/// whole window, left out), with a margin; `None` when the window holds no line of text.
pub fn text_line(window: &GreyImage) -> Option<GreyImage> {
    let (w, h) = (window.width() as usize, window.height() as usize);
    let px = window.pixels();
    let mut sorted = px.to_vec();
    sorted.sort_unstable();
    let paper = f32::from(sorted[sorted.len() * 9 / 10]);
    let ink_below = paper - (paper * 0.3).max(35.0);
    let ink = |x: usize, y: usize| f32::from(px[y * w + x]) < ink_below;
    let counts: Vec<usize> = (0..h).map(|y| (0..w).filter(|&x| ink(x, y)).count()).collect();
    let row_has_text = |c: usize| c >= 2.max(w / 100) && c < w * 7 / 10;
    // Runs of text rows (gaps of up to two rows bridged); the run with the most ink wins.
    // (first row, last row, ink) of a run.
    type Run = Option<(usize, usize, usize)>;
    let (mut best, mut run): (Run, Run) = (None, None);
    let mut gap = 0;
    for (y, &c) in counts.iter().enumerate() {
        if row_has_text(c) {
            run = Some(match run {
                Some((s, _, total)) => (s, y, total + c),
                None => (y, y, c),
            });
            gap = 0;
        } else if run.is_some() {
            gap += 1;
            if gap > 2 {
                if run.is_some_and(|r| best.is_none_or(|b| r.2 > b.2)) {
                    best = run;
                }
                run = None;
            }
        }
    }
    if run.is_some_and(|r| best.is_none_or(|b| r.2 > b.2)) {
        best = run;
    }
    let (top, bottom, _) = best?;
    let band = bottom - top + 1;
    if band < 8 {
        return None;
    }
    let columns: Vec<usize> = (0..w).filter(|&x| (top..=bottom).any(|y| ink(x, y))).collect();
    let (left, right) = (*columns.first()?, *columns.last()?);
    let margin_y = band / 4 + 2;
    let margin_x = band / 3 + 2;
    let (x0, x1) = (left.saturating_sub(margin_x), (right + margin_x + 1).min(w));
    let (y0, y1) = (top.saturating_sub(margin_y), (bottom + margin_y + 1).min(h));
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        out.extend_from_slice(&px[y * w + x0..y * w + x1]);
    }
    GreyImage::new((x1 - x0) as u32, (y1 - y0) as u32, out)
}

/// Otsu's threshold of 8-bit values.
pub fn otsu(pixels: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &p in pixels {
        hist[p as usize] += 1;
    }
    let total = pixels.len() as f64;
    let sum: f64 = hist.iter().enumerate().map(|(i, &n)| i as f64 * n as f64).sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0, 0.0, -1.0, 0u8);
    for (t, &n) in hist.iter().enumerate() {
        w0 += n as f64;
        sum0 += t as f64 * n as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum - sum0) / w1);
        let between = w0 * w1 * (m0 - m1).powi(2);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

fn class_means(pixels: &[u8], t: u8) -> (f64, f64) {
    let (mut s0, mut n0, mut s1, mut n1) = (0.0, 0.0, 0.0, 0.0);
    for &p in pixels {
        if p > t {
            s1 += f64::from(p);
            n1 += 1.0;
        } else {
            s0 += f64::from(p);
            n0 += 1.0;
        }
    }
    (s0 / f64::max(n0, 1.0), s1 / f64::max(n1, 1.0))
}

/// The largest 4-connected region of pixels above `t`.
fn largest_region(small: &[u8], w: u32, h: u32, t: u8) -> Vec<(u32, u32)> {
    let mut seen = vec![false; small.len()];
    let mut best: Vec<(u32, u32)> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..small.len() {
        if seen[start] || small[start] <= t {
            continue;
        }
        let mut region = Vec::new();
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            region.push((x, y));
            let mut visit = |j: usize| {
                if !seen[j] && small[j] > t {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w as usize);
            }
            if y + 1 < h {
                visit(i + w as usize);
            }
        }
        if region.len() > best.len() {
            best = region;
        }
    }
    best
}

/// A line as a point and a unit direction.
type Line = ((f64, f64), (f64, f64));

/// The straight line through the border points between corners `a` and `b` (the middle 80%).
fn fit_side(border: &[(f64, f64)], a: (f64, f64), b: (f64, f64)) -> Option<Line> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    if len2 < 4.0 {
        return None;
    }
    let len = len2.sqrt();
    let near: Vec<(f64, f64)> = border
        .iter()
        .copied()
        .filter(|p| {
            let t = ((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2;
            let dist = ((p.0 - a.0) * dy - (p.1 - a.1) * dx).abs() / len;
            (0.1..0.9).contains(&t) && dist < 6.0
        })
        .collect();
    let first = total_least_squares(&near)?;
    let close: Vec<(f64, f64)> = near.into_iter().filter(|&p| distance(first, p) < 1.5).collect();
    total_least_squares(&close).or(Some(first))
}

fn distance(((px, py), (dx, dy)): Line, (x, y): (f64, f64)) -> f64 {
    ((x - px) * dy - (y - py) * dx).abs()
}

fn total_least_squares(points: &[(f64, f64)]) -> Option<Line> {
    if points.len() < 5 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
        syy += (y - my) * (y - my);
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    Some(((mx, my), (angle.cos(), angle.sin())))
}

fn intersect(((px, py), (dx, dy)): Line, ((qx, qy), (ex, ey)): Line) -> Option<(f64, f64)> {
    let den = dx * ey - dy * ex;
    if den.abs() < 1e-9 {
        return None;
    }
    let t = ((qx - px) * ey - (qy - py) * ex) / den;
    Some((px + t * dx, py + t * dy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::warp;
    use crate::ocr::layout::{RECT_HEIGHT, RECT_WIDTH};

    fn frame_with(quad: Quad) -> Vec<u8> {
        let (w, h) = (1280u32, 720u32);
        let card = vec![220u8; (RECT_WIDTH * RECT_HEIGHT) as usize];
        let to_card = Homography::from_points(
            quad,
            [
                (0.0, 0.0),
                (f64::from(RECT_WIDTH), 0.0),
                (f64::from(RECT_WIDTH), f64::from(RECT_HEIGHT)),
                (0.0, f64::from(RECT_HEIGHT)),
            ],
        )
        .unwrap();
        let mut out = warp(&card, RECT_WIDTH, RECT_HEIGHT, &to_card, w, h, 25);
        out.iter_mut().for_each(|p| *p = (*p).max(25));
        out
    }

    #[test]
    fn a_slanted_card_is_found_to_within_a_few_pixels() {
        let quad = [(220.0, 110.0), (1070.0, 140.0), (1050.0, 660.0), (205.0, 625.0)];
        let found = find(&frame_with(quad), 1280, 720).unwrap();
        for (f, q) in found.iter().zip(&quad) {
            assert!((f.0 - q.0).abs() < 4.0 && (f.1 - q.1).abs() < 4.0, "{found:?}");
        }
    }

    #[test]
    fn an_empty_slot_and_a_card_cut_off_are_told_apart() {
        assert_eq!(find(&vec![25u8; 1280 * 720], 1280, 720), Err(NotFound::NoCard));
        let off = [(700.0, 100.0), (1500.0, 100.0), (1500.0, 600.0), (700.0, 600.0)];
        assert_eq!(find(&frame_with(off), 1280, 720), Err(NotFound::NotCardShaped));
    }
}
