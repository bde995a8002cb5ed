//! One card-camera frame read: the card found and rectified, turned the right way, each field's
//! window cut to its text line, the line recognised and parsed.
//!
//! Orientation: the birth-date line is read first; if it does not parse, the card is tried half
//! a turn round. A card lying upside down is reported as such (the patient is asked to turn it)
//! rather than read. A card none of whose three fields parse either way is not the front of a My
//! Number card (its back, another card).

pub use super::card::text_line;
use super::card::{self, NotFound, Quad};
use super::date::Date;
use super::layout::{BIRTH_WINDOW, CARD_HEIGHT_MM, CARD_WIDTH_MM, CODE_WINDOW, EXPIRY_WINDOW, PX_PER_MM, Rect};
use super::parse::{self, Birth, Char, Field, ParseError, SecurityCode};
use crate::GreyImage;
use kaoyomi_models::ModelError;
use kaoyomi_models::ppocr::{TextLine, TextRecognizer};

/// Why a field gave no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    /// No text line in the field's window (covered, or another card).
    Nothing,
    /// A bright reflection over the field.
    Glare,
    /// Text that is not the printed form.
    Unreadable(ParseError),
}

/// One frame's reading of the three fields.
#[derive(Debug, Clone)]
pub struct FrameRead {
    /// The birth date.
    pub birth: Result<Field<Birth>, FieldProblem>,
    /// The expiry.
    pub expiry: Result<Field<Date>, FieldProblem>,
    /// The security code.
    pub code: Result<Field<SecurityCode>, FieldProblem>,
}

/// Why a frame gave no reading at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameProblem {
    /// No card in view.
    NoCard,
    /// Something in view, but cut off by the frame or not card-shaped.
    NotCardShaped,
    /// The card lies upside down.
    UpsideDown,
    /// A card, but not the front of a My Number card (its back, a driver's licence, ...).
    NotTheFront,
}

/// Whether a bright reflection washes out part of the window: many pixels saturated and far
/// brighter than the card's paper elsewhere (`paper`).
fn glare(window: &GreyImage, paper: u8) -> bool {
    let px = window.pixels();
    let bright = px.iter().filter(|&&p| p >= 250 && u16::from(p) > u16::from(paper) + 15).count();
    bright * 20 > px.len()
}

/// The card's paper level: a bright percentile of the whole card (rectified coarsely).
fn paper_level(card: &GreyImage) -> u8 {
    let mut hist = [0usize; 256];
    for &p in card.pixels() {
        hist[p as usize] += 1;
    }
    let total: usize = hist.iter().sum();
    let mut seen = 0;
    for (v, &n) in hist.iter().enumerate() {
        seen += n;
        if seen * 10 >= total * 6 {
            return v as u8;
        }
    }
    255
}

/// The card in one frame: its windows are rectified as they are needed.
struct Found<'a> {
    pixels: &'a [u8],
    width: u32,
    height: u32,
    quad: Quad,
}

impl Found<'_> {
    fn window(&self, r: Rect, upside_down: bool) -> Option<GreyImage> {
        card::rectify_region(self.pixels, self.width, self.height, &self.quad, upside_down, r, PX_PER_MM)
    }

    /// The paper level of the whole card, from a copy at 1.5 pixels per millimetre.
    fn paper(&self) -> u8 {
        let whole = Rect { x0: 0.0, y0: 0.0, x1: CARD_WIDTH_MM, y1: CARD_HEIGHT_MM };
        card::rectify_region(self.pixels, self.width, self.height, &self.quad, false, whole, 1.5)
            .map_or(255, |c| paper_level(&c))
    }
}

/// A window's text line recognised, or why there is none; and whether glare washes the window out.
fn recognise(
    rec: &mut dyn TextRecognizer,
    window: Option<GreyImage>,
    paper: u8,
) -> Result<(Result<TextLine, FieldProblem>, bool), ModelError> {
    let Some(window) = window else { return Ok((Err(FieldProblem::Nothing), false)) };
    let glared = glare(&window, paper);
    let Some(line) = text_line(&window) else {
        return Ok((Err(if glared { FieldProblem::Glare } else { FieldProblem::Nothing }), glared));
    };
    Ok((Ok(rec.recognize(line.view())?), glared))
}

fn chars(line: &TextLine) -> Vec<Char> {
    line.chars.iter().map(|c| (c.ch, c.confidence)).collect()
}

fn field<T>(
    (read, glared): (Result<TextLine, FieldProblem>, bool),
    parse: fn(&[Char]) -> Result<Field<T>, ParseError>,
) -> Result<Field<T>, FieldProblem> {
    let line = read?;
    parse(&chars(&line)).map_err(|e| if glared { FieldProblem::Glare } else { FieldProblem::Unreadable(e) })
}

/// Reads one greyscale frame of `width x height` pixels.
pub fn read_frame(
    rec: &mut dyn TextRecognizer,
    pixels: &[u8],
    width: u32,
    height: u32,
) -> Result<Result<FrameRead, FrameProblem>, ModelError> {
    let quad = match card::find(pixels, width, height) {
        Ok(q) => q,
        Err(NotFound::NoCard) => return Ok(Err(FrameProblem::NoCard)),
        Err(NotFound::NotCardShaped) => return Ok(Err(FrameProblem::NotCardShaped)),
    };
    let found = Found { pixels, width, height, quad };
    let paper = found.paper();
    let birth = field(recognise(rec, found.window(BIRTH_WINDOW, false), paper)?, parse::birth);
    if birth.is_err() {
        // Half a turn round?
        if let (Ok(line), _) = recognise(rec, found.window(BIRTH_WINDOW, true), paper)?
            && parse::birth(&chars(&line)).is_ok()
        {
            return Ok(Err(FrameProblem::UpsideDown));
        }
    }
    let expiry = field(recognise(rec, found.window(EXPIRY_WINDOW, false), paper)?, parse::expiry);
    let code = field(recognise(rec, found.window(CODE_WINDOW, false), paper)?, parse::security_code);
    let unreadable = |p: &FieldProblem| matches!(p, FieldProblem::Nothing | FieldProblem::Unreadable(_));
    if birth.as_ref().is_err_and(unreadable)
        && expiry.as_ref().is_err_and(unreadable)
        && code.as_ref().is_err_and(unreadable)
    {
        return Ok(Err(FrameProblem::NotTheFront));
    }
    Ok(Ok(FrameRead { birth, expiry, code }))
}

/// The three windows' recognised lines of an upright card (birth, expiry, code), for measuring
/// and explaining the pipeline on test data; the reader itself only uses [`read_frame`].
pub fn frame_lines(
    rec: &mut dyn TextRecognizer,
    pixels: &[u8],
    width: u32,
    height: u32,
) -> Result<Option<Vec<Result<TextLine, FieldProblem>>>, ModelError> {
    let Ok(quad) = card::find(pixels, width, height) else { return Ok(None) };
    let found = Found { pixels, width, height, quad };
    let paper = found.paper();
    let mut out = Vec::new();
    for r in [BIRTH_WINDOW, EXPIRY_WINDOW, CODE_WINDOW] {
        out.push(recognise(rec, found.window(r, false), paper)?.0);
    }
    Ok(Some(out))
}
