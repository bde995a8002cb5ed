//! The networks on real pictures, the same on every architecture: `cargo xtask test-aarch64`
//! runs this under qemu-aarch64 so that tract's numerics on ARM are checked before a device does.
//! The simulated card's portrait (decoded from its JPEG 2000) is found, aligned and embedded; the
//! same face at another scale and place matches it, the picture upside down does not (on the host;
//! under emulation that third pass is left out). The printed
//! front of the simulated ordinary card, lying in the card camera's view, is read to the digits of
//! its 照合番号B. Needs the model files (`cargo xtask models`, which `cargo xtask test` runs
//! first); without them this test fails and says so.

use kaoyomi_models::ppocr::PpOcrRec;
use kaoyomi_models::sface::SFace;
use kaoyomi_models::yunet::YuNet;
use kaoyomi_models::{FaceDetector, FaceEmbedder};
use kaoyomi_vision::ocr::read::read_frame;
use kaoyomi_vision::{GreyImage, align, pick, portrait};
use std::path::PathBuf;

fn models() -> PathBuf {
    std::env::var_os("KAOYOMI_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/models"))
}

const CARD_PORTRAIT: &[u8] = include_bytes!("../../../hal/sim/assets/portrait.jp2");

/// The printed front of the simulated ordinary card (invented holder; 照合番号B 55021720352285).
const FRONT: &[u8] = include_bytes!("../../../hal/sim/assets/front-normal.png");

/// The portrait scaled by `scale` (nearest neighbour) and placed at (`dx`, `dy`) on a grey canvas.
fn placed(src: &GreyImage, width: u32, height: u32, scale: f32, dx: u32, dy: u32) -> GreyImage {
    let mut pixels = vec![128u8; (width * height) as usize];
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = ((x as f32 - dx as f32) / scale, (y as f32 - dy as f32) / scale);
            if sx >= 0.0 && sy >= 0.0 && (sx as u32) < src.width() && (sy as u32) < src.height() {
                pixels[(y * width + x) as usize] = src.pixels()[(sy as u32 * src.width() + sx as u32) as usize];
            }
        }
    }
    GreyImage::new(width, height, pixels).unwrap()
}

#[test]
fn the_card_portrait_is_found_aligned_and_matched() {
    let dir = models();
    let mut detector = YuNet::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut embedder = SFace::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let card = portrait::decode(CARD_PORTRAIT).expect("the sim card's portrait decodes");
    let embed = |image: &GreyImage, detector: &mut YuNet, embedder: &mut SFace| {
        let faces = detector.detect(image.view(), 0.6).expect("detector runs");
        let face = pick::patient(&faces, image.width(), image.height())?.clone();
        Some((face.score, embedder.embed(align::align(image.view(), &face.landmarks).view()).expect("embedder runs")))
    };
    let (score, reference) = embed(&card, &mut detector, &mut embedder).expect("a face on the card portrait");
    assert!(score > 0.8, "detector score {score}");
    assert_eq!(reference.len(), 128);

    // The same face, at another scale and elsewhere in a frame of the detector's working size
    // (the face check shrinks camera frames to it; under emulation every pixel costs): a match.
    let live = placed(&card, 320, 240, 0.8, 70, 14);
    let (_, again) = embed(&live, &mut detector, &mut embedder).expect("the face in the frame");
    let same = reference.similarity(&again);
    assert!(same > 0.7, "same face scored {same}");

    // Upside down: either no face or no match. Under qemu-aarch64 this third pass of both
    // networks took 88 s of the step's 290 and checks nothing the two above do not: host only.
    if std::env::var_os("KAOYOMI_EMULATED").is_some() {
        return;
    }
    // The colour input fed a grey face's plane three times is the grey input.
    let faces = detector.detect(card.view(), 0.6).expect("detector runs");
    let aligned =
        align::align(card.view(), &pick::patient(&faces, card.width(), card.height()).expect("face").landmarks);
    let colour = embedder.embed_colour([aligned.view(); 3]).expect("embedder runs");
    let same = colour.similarity(&reference);
    assert!(same > 0.9999, "the colour path gave {same} for a grey face");
    let flipped = GreyImage::new(card.width(), card.height(), card.pixels().iter().rev().copied().collect()).unwrap();
    if let Some((_, other)) = embed(&flipped, &mut detector, &mut embedder) {
        let s = reference.similarity(&other);
        assert!(s < 0.36, "an upside-down face matched with {s}");
    }
}

#[test]
fn the_printed_front_is_read_to_its_collation_digits() {
    let mut rec = PpOcrRec::load(&models()).unwrap_or_else(|e| panic!("{e}"));
    let front = image::load_from_memory(FRONT).expect("the front decodes").into_luma8();
    // The card lying flat in the middle of the card camera's 1280x720 view, on the slot's dark floor.
    let (width, height) = (1280u32, 720u32);
    let (dx, dy) = ((width - front.width()) / 2, (height - front.height()) / 2);
    let mut frame = vec![35u8; (width * height) as usize];
    for (x, y, p) in front.enumerate_pixels() {
        frame[((y + dy) * width + x + dx) as usize] = p.0[0];
    }
    let read = read_frame(&mut rec, &frame, width, height).expect("the recogniser runs").expect("the front is read");
    let birth = read.birth.expect("the birth line is read");
    let expiry = read.expiry.expect("the expiry line is read");
    let code = read.code.expect("the security code is read");
    assert_eq!(birth.value.digits(), "550217");
    assert_eq!(expiry.value.year, 2035);
    assert!(code.value.0 == [2, 2, 8, 5], "the security code was misread");
    for confidence in [birth.confidence, expiry.confidence, code.confidence] {
        assert!(confidence > 0.5, "a field read with confidence {confidence}");
    }
}
