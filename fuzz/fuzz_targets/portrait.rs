//! Fuzz target: the card's JPEG 2000 portrait decoding (untrusted bytes from an NFC chip) never
//! panics and never returns an image larger than its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = kaoyomi_vision::portrait::decode(data) {
        assert!(image.width() <= kaoyomi_vision::portrait::MAX_SIDE);
        assert!(image.height() <= kaoyomi_vision::portrait::MAX_SIDE);
        assert_eq!(image.pixels().len(), (image.width() * image.height()) as usize);
    }
});
