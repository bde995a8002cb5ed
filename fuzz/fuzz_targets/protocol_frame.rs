//! Fuzz target: whatever arrives on the terminal link, the frame decoder and the stream splitter
//! return frames or errors, never panic, and decoded frames re-encode to frames that decode equal.
#![no_main]

use kaoyomi_protocol::{Frame, FrameReader, SessionReport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new();
    for frame in reader.push(data).into_iter().flatten() {
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }
    let _ = Frame::decode(data);
    let _ = SessionReport::from_bytes(data);
});
