//! Fuzz target: a card-camera frame (untrusted pixels) through the OCR's card finding, window
//! rectification, text-line cutting and line parsing: never panics, and what it returns is
//! within bounds.
#![no_main]

use kaoyomi_vision::ocr::{card, layout, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // A small frame (the real one is 1280x720; the logic does not depend on the size).
    let width = 16 + u32::from(data[0]) % 240;
    let height = 16 + u32::from(data[1]) % 180;
    let pixels: Vec<u8> = (0..(width * height) as usize).map(|i| data[2 + i % (data.len() - 2)]).collect();
    if let Ok(quad) = card::find(&pixels, width, height) {
        assert!(quad.iter().all(|(x, y)| x.is_finite() && y.is_finite()));
        for (r, turned) in [(layout::BIRTH_WINDOW, false), (layout::CODE_WINDOW, true)] {
            if let Some(window) = card::rectify_region(&pixels, width, height, &quad, turned, r, layout::PX_PER_MM) {
                if let Some(line) = card::text_line(&window) {
                    assert!(line.width() <= window.width() && line.height() <= window.height());
                }
            }
        }
    }
    // The same bytes as recognised characters: the parsers refuse or return checked values.
    let chars: Vec<(char, f32)> =
        String::from_utf8_lossy(data).chars().map(|c| (c, f32::from(data[0]) / 255.0)).collect();
    if let Ok(b) = parse::birth(&chars) {
        assert_eq!(b.value.digits().len(), 6);
    }
    let _ = parse::expiry(&chars);
    let _ = parse::security_code(&chars);
});
