//! Fuzz target: whatever a peer sends while the channel is being opened and after, the reader's
//! side of the handshake (and the terminal's, for the reader's answer) returns errors, never
//! panics, and never opens a channel from bytes that did not come from a handshake with its key.
#![no_main]

use kaoyomi_protocol::channel::{Initiator, ReaderHello, Responder, StaticKey, TerminalHello};
use kaoyomi_protocol::{Body, Frame, FrameReader, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reader_key = StaticKey::from_secret([1; 32]);
    let hello = ReaderHello { serial: "KY-FUZZ".into(), device_key: [2; 32], paired: false };
    let frames: Vec<Frame> = FrameReader::new().push(data).into_iter().flatten().collect();
    let mut frames = frames.into_iter();
    // The reader's side: first message, last message, then sealed frames.
    if let Some(first) = frames.next()
        && let Ok((responder, _answer)) = Responder::answer(&reader_key, &first, &hello)
        && let Some(last) = frames.next()
        && let Ok((mut channel, _terminal)) = responder.finish(&last)
    {
        for frame in frames.by_ref() {
            if channel.open(&frame).is_err() {
                break;
            }
        }
    }
    // The terminal's side: a real first message, the fuzz input as the reader's answer.
    let terminal_key = StaticKey::from_secret([3; 32]);
    if let Ok((initiator, _first)) = Initiator::start(&terminal_key) {
        let answer = Frame::new(0, Body::Handshake(data.to_vec()));
        if let Ok((_last, mut channel, _reader)) = initiator.finish(&answer, &TerminalHello { name: "fuzz".into() }) {
            let _ = channel.open(&Frame::new(0, Body::Sealed(data.to_vec())));
            let _ = channel.seal(&Frame::new(1, Body::Request(Request::GetDeviceInfo)));
        }
    }
});
