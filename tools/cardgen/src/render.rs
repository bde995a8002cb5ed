//! Draws card fronts at the pipeline's rectified scale (10 px per mm, 856x540, greyscale): the My
//! Number card's front after the public layout (`kaoyomi_vision::ocr::layout`), with each card's
//! own font, ink, background and small shifts of every printed line (printing is not exact); and,
//! for the bad-input tests, cards that are not its front: its back, a driver's licence, an old
//! 住民基本台帳カード.

use crate::people::Person;
use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use anyhow::{Context, Result, bail};
use kaoyomi_vision::ocr::layout::{self, Line, PX_PER_MM, RECT_HEIGHT, RECT_WIDTH, Rect};
use rand::Rng;

/// The Japanese fonts Debian ships that the renderer draws with (packages fonts-ipafont-gothic,
/// fonts-ipafont-mincho, fonts-mplus, fonts-noto-cjk), by path and face index.
pub const FONT_FILES: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf", 0),
    ("/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf", 0),
    ("/usr/share/fonts/opentype/mplus/Mplus1-Regular.otf", 0),
    ("/usr/share/fonts/opentype/mplus/Mplus2-Medium.otf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 0),
];

/// The loaded fonts.
pub struct Fonts {
    fonts: Vec<(String, FontVec)>,
}

impl Fonts {
    /// Every font of [`FONT_FILES`]; all of them must be there (`cargo xtask test` installs them),
    /// so that a measurement is the same on every machine.
    pub fn system() -> Result<Fonts> {
        let mut fonts = Vec::new();
        for &(path, index) in FONT_FILES {
            let data = std::fs::read(path).with_context(|| format!("reading font {path} (Debian's font packages)"))?;
            let font = FontVec::try_from_vec_and_index(data, index).with_context(|| format!("parsing font {path}"))?;
            let name = path.rsplit('/').next().unwrap_or(path).to_string();
            fonts.push((name, font));
        }
        if fonts.is_empty() {
            bail!("no fonts");
        }
        Ok(Fonts { fonts })
    }

    /// How many fonts.
    pub fn len(&self) -> usize {
        self.fonts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fonts.is_empty()
    }

    /// The name of font `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.fonts[i].0
    }
}

/// A greyscale canvas in card millimetres.
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixels, row-major.
    pub pixels: Vec<u8>,
}

impl Canvas {
    fn new(background: impl Fn(u32, u32) -> u8) -> Canvas {
        let (width, height) = (RECT_WIDTH, RECT_HEIGHT);
        let pixels = (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).map(|(x, y)| background(x, y)).collect();
        Canvas { width, height, pixels }
    }

    fn blend(&mut self, x: i64, y: i64, ink: u8, alpha: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let p = &mut self.pixels[(y as usize) * self.width as usize + x as usize];
        let a = alpha.clamp(0.0, 1.0);
        *p = (f32::from(*p) * (1.0 - a) + f32::from(ink) * a).round() as u8;
    }

    /// Fills a rectangle (millimetres).
    pub fn fill(&mut self, r: Rect, ink: u8) {
        let (x0, y0) = ((r.x0 * PX_PER_MM) as i64, (r.y0 * PX_PER_MM) as i64);
        let (x1, y1) = ((r.x1 * PX_PER_MM) as i64, (r.y1 * PX_PER_MM) as i64);
        for y in y0..y1 {
            for x in x0..x1 {
                self.blend(x, y, ink, 1.0);
            }
        }
    }

    /// A rectangle's outline, `width_mm` thick.
    pub fn frame(&mut self, r: Rect, width_mm: f32, ink: u8) {
        let w = width_mm;
        self.fill(Rect { y1: r.y0 + w, ..r }, ink);
        self.fill(Rect { y0: r.y1 - w, ..r }, ink);
        self.fill(Rect { x1: r.x0 + w, ..r }, ink);
        self.fill(Rect { x0: r.x1 - w, ..r }, ink);
    }

    /// Draws `text` on `line` (millimetres) with font `font`, `spacing` extra millimetres between
    /// characters; returns the right edge in millimetres.
    pub fn text(&mut self, fonts: &Fonts, font: usize, line: Line, text: &str, ink: u8, spacing: f32) -> f32 {
        let f = &fonts.fonts[font].1;
        let scale = PxScale::from(line.size * PX_PER_MM);
        let scaled = f.as_scaled(scale);
        let mut x = line.x * PX_PER_MM;
        let baseline = line.baseline * PX_PER_MM;
        for c in text.chars() {
            let id = f.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(x, baseline));
            if let Some(outline) = f.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    self.blend(b.min.x as i64 + i64::from(gx), b.min.y as i64 + i64::from(gy), ink, cov);
                });
            }
            x += scaled.h_advance(id) + spacing * PX_PER_MM;
        }
        x / PX_PER_MM
    }
}

/// How one card is printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    /// Font for everything.
    pub font: usize,
    /// Single-digit numbers written with a leading space (「 2月」) or not.
    pub pad: bool,
    /// Ink grey level.
    pub ink: u8,
    /// Paper grey level.
    pub paper: u8,
    /// Each line's shift in millimetres (x, y), in the order name, address, birth, expiry, code.
    pub shifts: [(f32, f32); 5],
    /// Character size factor.
    pub size: f32,
    /// Extra space between characters, millimetres.
    pub spacing: f32,
    /// Phase of the background pattern.
    pub pattern: f32,
}

impl Style {
    /// A random style.
    pub fn random(rng: &mut impl Rng, fonts: &Fonts) -> Style {
        let mut shift = || (rng.gen_range(-0.7..0.7), rng.gen_range(-0.5..0.5));
        let shifts = [shift(), shift(), shift(), shift(), shift()];
        Style {
            font: rng.gen_range(0..fonts.len()),
            pad: rng.gen_bool(0.7),
            ink: rng.gen_range(10..70),
            paper: rng.gen_range(195..240),
            shifts,
            size: rng.gen_range(0.92..1.08),
            spacing: rng.gen_range(-0.05..0.25),
            pattern: rng.gen_range(0.0..std::f32::consts::TAU),
        }
    }

    /// The plain style: first font, no shifts.
    pub fn plain() -> Style {
        Style {
            font: 0,
            pad: true,
            ink: 30,
            paper: 225,
            shifts: [(0.0, 0.0); 5],
            size: 1.0,
            spacing: 0.05,
            pattern: 0.0,
        }
    }
}

fn moved(line: Line, shift: (f32, f32), size: f32) -> Line {
    Line { x: line.x + shift.0, baseline: line.baseline + shift.1, size: line.size * size }
}

/// The card's light background: paper with a faint wave pattern (the security print).
fn paper(style: &Style) -> impl Fn(u32, u32) -> u8 {
    let (p, phase) = (f32::from(style.paper), style.pattern);
    move |x, y| {
        let (fx, fy) = (x as f32 / PX_PER_MM, y as f32 / PX_PER_MM);
        let wave = ((fx * 0.9 + (fy * 0.35 + phase).sin() * 3.0).sin() * 0.5 + 0.5) * 9.0;
        (p - wave).clamp(0.0, 255.0) as u8
    }
}

/// A drawn stand-in for the holder's photograph: a head and shoulders on a light ground.
fn photo(canvas: &mut Canvas, rng: &mut impl Rng) {
    let r = layout::PHOTO;
    let ground = rng.gen_range(170..215);
    canvas.fill(r, ground);
    let (cx, cy) = ((r.x0 + r.x1) / 2.0 + rng.gen_range(-1.5..1.5), r.y0 + (r.y1 - r.y0) * 0.42);
    let (hw, hh) = (rng.gen_range(5.5..7.0), rng.gen_range(7.0..8.5));
    let (skin, hair, cloth) = (rng.gen_range(110..170), rng.gen_range(20..90), rng.gen_range(30..120));
    for y in (r.y0 * PX_PER_MM) as i64..(r.y1 * PX_PER_MM) as i64 {
        for x in (r.x0 * PX_PER_MM) as i64..(r.x1 * PX_PER_MM) as i64 {
            let (mx, my) = (x as f32 / PX_PER_MM, y as f32 / PX_PER_MM);
            let head = ((mx - cx) / hw).powi(2) + ((my - cy) / hh).powi(2);
            let shoulders = my > cy + hh * 0.9 && ((mx - cx) / (hw * 2.2)).powi(2) + ((my - r.y1) / 9.0).powi(2) < 1.0;
            let v = if head < 1.0 {
                if my < cy - hh * 0.35 || head > 0.8 && my < cy { hair } else { skin }
            } else if shoulders {
                cloth
            } else {
                continue;
            };
            canvas.blend(x, y, v, 1.0);
        }
    }
}

/// The front of `person`'s My Number card in `style`.
pub fn front(fonts: &Fonts, person: &Person, style: &Style, rng: &mut impl Rng) -> Canvas {
    let mut c = Canvas::new(paper(style));
    let (f, ink, s, sp) = (style.font, style.ink, style.size, style.spacing);
    let label = ink.saturating_add(50);
    c.text(fonts, f, layout::NAME_LABEL, "氏名", label, 0.0);
    c.text(fonts, f, moved(layout::NAME, style.shifts[0], s), &person.name, ink, sp);
    c.text(fonts, f, layout::ADDRESS_LABEL, "住所", label, 0.0);
    for (i, line) in person.address.iter().enumerate() {
        let mut l = moved(layout::ADDRESS, style.shifts[1], s);
        l.baseline += 4.0 * i as f32;
        c.text(fonts, f, l, line, ink, sp * 0.5);
    }
    c.text(fonts, f, moved(layout::BIRTH, style.shifts[2], s), &person.birth_line(style.pad), ink, sp);
    let sex = if person.female { "性別 女" } else { "性別 男" };
    c.text(fonts, f, moved(layout::SEX, style.shifts[2], s), sex, ink, sp);
    c.frame(layout::EXPIRY_BOX, 0.25, ink.saturating_add(40));
    c.text(fonts, f, moved(layout::EXPIRY, style.shifts[3], s), &person.expiry_line(style.pad), ink, sp);
    c.text(fonts, f, layout::CODE_LABEL, "セキュリティコード", label, 0.0);
    c.text(fonts, f, moved(layout::CODE, style.shifts[4], s), &person.security_code, ink, sp + 0.3);
    c.text(fonts, f, layout::TITLE, "個人番号カード", ink.saturating_add(30), 0.1);
    photo(&mut c, rng);
    c
}

/// Cards that are not the front of a My Number card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherCard {
    /// The My Number card's back: the 個人番号 and a QR-code-like block.
    Back,
    /// A driver's licence (運転免許証): other layout, dates in other places.
    DriversLicence,
    /// The old 住民基本台帳カード.
    Juki,
    /// A blank white card.
    Blank,
}

/// One of the [`OtherCard`]s with invented content.
pub fn other(fonts: &Fonts, kind: OtherCard, style: &Style, rng: &mut impl Rng) -> Canvas {
    let mut c = Canvas::new(paper(style));
    let (f, ink) = (style.font, style.ink);
    let line = |x: f32, baseline: f32, size: f32| Line { x, baseline, size };
    match kind {
        OtherCard::Back => {
            c.text(fonts, f, line(4.0, 9.0, 3.0), "個人番号", ink, 0.0);
            let number: String = (0..12).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
            c.text(
                fonts,
                f,
                line(4.0, 17.0, 5.0),
                &format!("{} {} {}", &number[..4], &number[4..8], &number[8..]),
                ink,
                0.3,
            );
            c.text(fonts, f, line(4.0, 26.0, 3.0), "氏名 見本 一郎", ink, 0.0);
            c.text(fonts, f, line(4.0, 32.0, 3.0), "生年月日 昭和50年 1月 1日", ink, 0.0);
            for i in 0..20 {
                for j in 0..20 {
                    if rng.gen_bool(0.5) {
                        let (x, y) = (60.0 + i as f32 * 1.1, 22.0 + j as f32 * 1.1);
                        c.fill(Rect { x0: x, y0: y, x1: x + 1.1, y1: y + 1.1 }, ink);
                    }
                }
            }
        }
        OtherCard::DriversLicence => {
            c.text(fonts, f, line(3.0, 7.0, 3.2), "氏名 見本 次郎  昭和60年 3月 3日生", ink, 0.0);
            c.text(fonts, f, line(3.0, 13.0, 3.0), "住所 東京都千代田区霞が関2丁目1番", ink, 0.0);
            c.text(fonts, f, line(3.0, 19.0, 3.0), "交付 令和05年04月01日 12345", ink, 0.0);
            c.fill(Rect { x0: 2.5, y0: 21.0, x1: 56.0, y1: 27.0 }, 150);
            c.text(fonts, f, line(3.0, 25.8, 3.6), "2028年(令和10年)03月03日まで有効", ink, 0.0);
            c.text(fonts, f, line(3.0, 47.0, 4.0), "運転免許証", ink, 0.0);
            c.text(fonts, f, line(3.0, 52.0, 3.0), "第 123456789012 号", ink, 0.0);
            photo(&mut c, rng);
        }
        OtherCard::Juki => {
            c.text(fonts, f, line(3.0, 8.0, 4.0), "住民基本台帳カード", ink, 0.0);
            c.text(fonts, f, line(3.0, 16.0, 3.0), "氏名 見本 三郎", ink, 0.0);
            c.text(fonts, f, line(3.0, 22.0, 3.0), "住所 大阪府大阪市北区", ink, 0.0);
            c.text(fonts, f, line(3.0, 31.0, 3.0), "有効期限 平成35年 1月 1日", ink, 0.0);
            photo(&mut c, rng);
        }
        OtherCard::Blank => {}
    }
    c
}
