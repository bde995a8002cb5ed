//! Writes the fuzz corpus seeds that come from the virtual card (a genuine card-face record, a CV
//! certificate, a whole PIN-path exchange) and from the channel (a handshake) into `fuzz/corpus/`.
//!
//! `cargo run -p kaoyomi-tests --example fuzz_seeds`

use kaoyomi_hal::card::CardReader;
use kaoyomi_hal_sim::{CounterStore, SimCardSlot, VirtualCard, persona, pki};
use kaoyomi_myna::card::Card;
use kaoyomi_myna::surface::{self, CollationB};

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let dir = tempfile::tempdir().unwrap();
    let slot = SimCardSlot::new();
    slot.control().insert(VirtualCard::issue(persona::find("normal").unwrap(), CounterStore::new(dir.path())).unwrap());
    let mut reader = slot.reader();
    reader.connect().unwrap();
    let mut card = Card::new(&mut reader);
    card.select_df(&surface::AID).unwrap();
    card.select_ef(surface::EF_COLLATION_B).unwrap();
    card.verify(CollationB::new("55021720352285").unwrap().expose()).unwrap();
    card.select_ef(surface::EF_CARD_FACE).unwrap();
    let record = card.read_tlv_file().unwrap();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = root.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    write("card_face", "genuine-record", &record);
    write("card_face", "cv-certificate", &pki::face_signer_cv_certificate().unwrap());
    // For card_answers: each answer prefixed by its length byte (answers of up to 255 bytes).
    let mut script = Vec::new();
    for answer in [&[0x90, 0x00][..], &[0x90, 0x00], &[0x63, 0xC3], &[0x63, 0xC2]] {
        script.push(answer.len() as u8);
        script.extend_from_slice(answer);
    }
    write("card_answers", "select-then-counter", &script);
    let frame =
        kaoyomi_protocol::Frame::new(1, kaoyomi_protocol::Body::Request(kaoyomi_protocol::Request::GetDeviceInfo));
    write("protocol_frame", "device-info", &frame.encode());
    // For channel_handshake: a whole handshake with the target's reader key, then a sealed request.
    {
        use kaoyomi_protocol::channel::{Initiator, ReaderHello, Responder, StaticKey, TerminalHello};
        let reader_key = StaticKey::from_secret([1; 32]);
        let hello = ReaderHello { serial: "KY-FUZZ".into(), device_key: [2; 32], paired: false };
        let (initiator, first) = Initiator::start(&StaticKey::from_secret([3; 32])).unwrap();
        let (_responder, answer) = Responder::answer(&reader_key, &first, &hello).unwrap();
        let (last, mut channel, _) = initiator.finish(&answer, &TerminalHello { name: "fuzz".into() }).unwrap();
        let mut bytes = first.encode();
        bytes.extend(last.encode());
        bytes.extend(channel.seal(&frame).unwrap().encode());
        write("channel_handshake", "handshake-then-request", &bytes);
    }
    println!("seeds written to {}", root.display());
}
