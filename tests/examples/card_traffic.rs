//! Card traffic of the two card paths against the virtual card: APDU count, bytes each way, and the
//! time the bytes take at ISO 14443's 424 kbit/s (the bytes alone: no frame overhead, no card time).
//!
//! `cargo run -p kaoyomi-tests --example card_traffic`

use kaoyomi_core::Event;
use kaoyomi_hal::card::CardReader;
use kaoyomi_hal_sim::{CounterStore, SimCardSlot, VirtualCard, persona, pki};
use kaoyomi_myna::card::Card;
use kaoyomi_myna::surface::{CollationB, IssuerKeys, SurfaceAp};
use kaoyomi_protocol::{AuthMethod, ConsentRequest};
use kaoyomi_tests::{Bench, Recording};

fn report(name: &str, apdus: usize, sent: usize, received: usize) {
    let ms = (sent + received) as f64 * 8.0 / 424_000.0 * 1000.0;
    println!("{name}: {apdus} APDUs, {sent} bytes to the card, {received} bytes back, {ms:.1} ms at 424 kbit/s");
}

fn main() {
    let dir = tempfile::tempdir().unwrap();

    // The PIN path as the reader runs it: read the card, then verify and sign.
    let mut bench = Bench::new(dir.path(), false);
    bench.arm(ConsentRequest::default());
    bench.insert("normal");
    bench.event(Event::MethodChosen(AuthMethod::Pin));
    bench.pin("4721");
    let sent: usize = bench.apdus.iter().map(Vec::len).sum();
    report("PIN path (card read + PIN + signature)", bench.apdus.len(), sent, bench.received);

    // The face-photo path: 照合番号B, the record with the portrait, the authenticity checks.
    let slot = SimCardSlot::new();
    slot.control().insert(VirtualCard::issue(persona::find("normal").unwrap(), CounterStore::new(dir.path())).unwrap());
    let mut reader = slot.reader();
    reader.connect().unwrap();
    let mut apdus = Vec::new();
    let mut card = Card::new(Recording { reader: &mut reader, sent: &mut apdus, received: 0 });
    let mut ap = SurfaceAp::select(&mut card).unwrap();
    ap.open(&CollationB::new("55021720352285").unwrap()).unwrap();
    let face = ap.card_face().unwrap();
    let issuers = IssuerKeys::default().with(pki::TEST_ISSUER_KEY_ID, pki::test_issuer_public().unwrap());
    ap.check_authenticity(&face, &issuers, &[3; 32]).unwrap();
    let received = card.into_inner().received;
    let sent: usize = apdus.iter().map(Vec::len).sum();
    report("face-photo path (照合番号B + record + authenticity)", apdus.len(), sent, received);
}
