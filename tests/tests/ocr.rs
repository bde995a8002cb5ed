//! The card-surface OCR on rendered cards (invented people, `kaoyomi-cardgen`), frame by frame
//! through the guard as the reader runs it: fronts are read right or refused, never read wrong;
//! cards that are not a front, or lie upside down, are never read. (`cargo xtask eval-ocr`
//! measures the same on thousands of cards; this keeps a small, fixed set in the test suite.)

use kaoyomi_cardgen::{Fonts, OtherCard, Style, person, render};
use kaoyomi_hal_sim::capture::{self, Conditions, Difficulty};
use kaoyomi_models::ppocr::PpOcrRec;
use kaoyomi_vision::ocr::date::Date;
use kaoyomi_vision::ocr::guard::{Guard, Refusal, Settings, Verdict};
use kaoyomi_vision::ocr::layout::{CARD_HEIGHT_MM, CARD_WIDTH_MM};
use kaoyomi_vision::ocr::read::read_frame;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

fn models() -> PathBuf {
    std::env::var_os("KAOYOMI_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/models"))
}

fn today() -> Date {
    Date::new(2026, 11, 27).unwrap()
}

/// Films `card` lying still (new noise each frame) until the guard decides.
fn decide(
    rec: &mut PpOcrRec,
    card: &render::Canvas,
    c: &Conditions,
    chip: Option<Date>,
    rng: &mut ChaCha8Rng,
) -> Verdict {
    let mut guard = Guard::new(Settings::new(today(), chip));
    loop {
        let frame = capture::capture(&card.pixels, card.width, card.height, CARD_WIDTH_MM, c, rng);
        let read = read_frame(rec, &frame, capture::FRAME_WIDTH, capture::FRAME_HEIGHT).unwrap();
        match guard.add(read) {
            Verdict::Pending(_) => {}
            v => return v,
        }
    }
}

#[test]
fn rendered_fronts_are_read_right_or_refused_never_wrong() {
    if kaoyomi_tests::skipped_under_emulation("rendered_fronts_are_read_right_or_refused_never_wrong") {
        return;
    }
    let fonts = Fonts::system().unwrap();
    let mut rec = PpOcrRec::load(&models()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut right, mut refused) = (0, 0);
    for _ in 0..12 {
        let p = person(&mut rng);
        let style = Style::random(&mut rng, &fonts);
        let card = render::front(&fonts, &p, &style, &mut rng);
        let c = Conditions::sample(&mut rng, Difficulty::Placed, CARD_WIDTH_MM, CARD_HEIGHT_MM);
        match decide(&mut rec, &card, &c, Some(p.expiry), &mut rng) {
            Verdict::Accept(b) => {
                assert_eq!(b.digits(), p.collation_b(), "a wrong 照合番号B was accepted");
                right += 1;
            }
            _ => refused += 1,
        }
    }
    assert!(right >= 10, "only {right} of 12 cards read ({refused} refused)");
}

#[test]
fn a_card_that_is_not_a_front_or_lies_upside_down_is_never_read() {
    if kaoyomi_tests::skipped_under_emulation("a_card_that_is_not_a_front_or_lies_upside_down_is_never_read") {
        return;
    }
    let fonts = Fonts::system().unwrap();
    let mut rec = PpOcrRec::load(&models()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let c = Conditions::sample(&mut rng, Difficulty::Placed, CARD_WIDTH_MM, CARD_HEIGHT_MM);
    for kind in [OtherCard::Back, OtherCard::DriversLicence, OtherCard::Juki, OtherCard::Blank] {
        let card = render::other(&fonts, kind, &Style::plain(), &mut rng);
        let v = decide(&mut rec, &card, &c, None, &mut rng);
        assert!(matches!(v, Verdict::Refuse(Refusal::NotTheFront | Refusal::Unreadable)), "{kind:?}: {v:?}");
    }
    let p = person(&mut rng);
    let card = render::front(&fonts, &p, &Style::plain(), &mut rng);
    let mut turned = c.clone();
    turned.corners.rotate_left(2);
    assert_eq!(decide(&mut rec, &card, &turned, Some(p.expiry), &mut rng), Verdict::Refuse(Refusal::UpsideDown));
    // No card at all: an empty slot.
    let empty = Conditions { corners: [(-10.0, -10.0); 4], ..c };
    let blank = render::Canvas { width: 1, height: 1, pixels: vec![0] };
    assert_eq!(decide(&mut rec, &blank, &empty, None, &mut rng), Verdict::Refuse(Refusal::NoCard));
}
