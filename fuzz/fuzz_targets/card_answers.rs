//! Fuzz target: a card (or something pretending to be one) answers anything at all. The JPKI read
//! and the PIN path over a scripted transport return values or errors, never panic, and never send
//! a second VERIFY.
#![no_main]

use kaoyomi_hal::card::Transmit;
use kaoyomi_myna::card::Card;
use kaoyomi_myna::jpki::JpkiAp;
use kaoyomi_myna::{Command, Response, tlv};
use libfuzzer_sys::fuzz_target;

/// Answers each APDU with the next slice of the fuzz input (first byte: its length).
struct Scripted<'a> {
    data: &'a [u8],
    verifies: usize,
}

#[derive(Debug)]
struct Gone;
impl core::fmt::Display for Gone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("input exhausted")
    }
}
impl kaoyomi_hal::Error for Gone {
    fn kind(&self) -> kaoyomi_hal::ErrorKind {
        kaoyomi_hal::ErrorKind::CardRemoved
    }
}

impl Transmit for Scripted<'_> {
    type Error = Gone;
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Gone> {
        if command.len() > 4 && command[1] == 0x20 {
            self.verifies += 1;
            assert!(self.verifies <= 1, "a second VERIFY was sent");
        }
        let (&len, rest) = self.data.split_first().ok_or(Gone)?;
        let len = (len as usize).min(rest.len());
        let (answer, rest) = rest.split_at(len);
        self.data = rest;
        Ok(answer.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Command::parse(data);
    if let Some(r) = Response::parse(data) {
        let _ = r.sw.status().describe();
    }
    let _ = tlv::parse(data);
    let _ = tlv::children(data).count();
    let _ = tlv::parse_simple(data);
    let mut card = Card::new(Scripted { data, verifies: 0 });
    if let Ok(mut ap) = JpkiAp::select(&mut card) {
        let _ = ap.token();
        let _ = ap.auth_certificate();
        let _ = ap.verify_and_sign(b"1234", &[0x30; 51], false);
    }
});
