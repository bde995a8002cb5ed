//! The face-photo path against the virtual card: 照合番号B, the card-face record with its JPEG 2000
//! portrait, the chip's authenticity (certificate, record signature, challenge), the expiry from
//! the common record, and the card faults of this path, APDU by APDU.

use kaoyomi_hal::card::CardReader;
use kaoyomi_hal_sim::{CounterStore, Fault, SimCardSlot, VirtualCard, persona, pki};
use kaoyomi_myna::card::{Card, PinStatus};
use kaoyomi_myna::common::{self, Date};
use kaoyomi_myna::surface::{AuthenticityError, CollationB, CollationOutcome, IssuerKeys, SurfaceAp};
use kaoyomi_tests::Recording;

fn issuers() -> IssuerKeys {
    IssuerKeys::default().with(pki::TEST_ISSUER_KEY_ID, pki::test_issuer_public().unwrap())
}

/// A slot with `id`'s card, connected.
fn slot(id: &str, dir: &std::path::Path) -> (SimCardSlot, kaoyomi_hal_sim::SimCardReader) {
    let slot = SimCardSlot::new();
    slot.control().insert(VirtualCard::issue(persona::find(id).unwrap(), CounterStore::new(dir)).unwrap());
    let mut reader = slot.reader();
    reader.connect().unwrap();
    (slot, reader)
}

/// The whole face-photo path; the APDUs go to `sent`.
fn face_path(
    reader: &mut kaoyomi_hal_sim::SimCardReader,
    sent: &mut Vec<Vec<u8>>,
    b: &str,
) -> Result<(Date, usize), String> {
    let mut card = Card::new(Recording { reader, sent, received: 0 });
    let expiry = common::read_expiry(&mut card).map_err(|e| e.to_string())?;
    let mut ap = SurfaceAp::select(&mut card).map_err(|e| e.to_string())?;
    match ap.open(&CollationB::new(b).unwrap()).map_err(|e| e.to_string())? {
        CollationOutcome::Opened => {}
        other => return Err(format!("{other:?}")),
    }
    let face = ap.card_face().map_err(|e| e.to_string())?;
    ap.check_authenticity(&face, &issuers(), &[7; 32]).map_err(|e| e.to_string())?;
    Ok((expiry, face.photo_jp2().len()))
}

#[test]
fn genuine_card_gives_its_portrait_and_proves_its_chip() {
    let dir = tempfile::tempdir().unwrap();
    let (_slot, mut reader) = slot("normal", dir.path());
    let mut sent = Vec::new();
    let (expiry, photo) = face_path(&mut reader, &mut sent, "55021720352285").unwrap();
    assert_eq!(expiry.to_string(), "2035-02-17");
    assert_eq!(photo, include_bytes!("../../hal/sim/assets/portrait.jp2").len());
    // The reader never touches EF 0005, the 個人番号 image.
    assert!(!sent.iter().any(|a| a.starts_with(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x05])));
    let bytes: usize = sent.iter().map(Vec::len).sum();
    println!("face-photo path: {} APDUs, {bytes} command bytes", sent.len());
}

#[test]
fn the_record_is_parsed_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_slot, mut reader) = slot("normal", dir.path());
    let mut card = Card::new(&mut reader);
    let mut ap = SurfaceAp::select(&mut card).unwrap();
    assert_eq!(ap.collation_b_status().unwrap(), PinStatus::Remaining(10));
    assert!(matches!(ap.card_face(), Err(AuthenticityError::Card(_))), "the record is closed without 照合番号B");
    assert_eq!(ap.open(&CollationB::new("55021720352285").unwrap()).unwrap(), CollationOutcome::Opened);
    let face = ap.card_face().unwrap();
    assert_eq!(face.birth_date().to_string(), "1980-02-17");
    assert_eq!(face.expiry().to_string(), "2035-02-17");
    assert_eq!(face.sex(), b"2");
    assert!(face.name_png().starts_with(b"\x89PNG") && face.address_png().starts_with(b"\x89PNG"));
    assert_eq!(face.security_code_png(), include_bytes!("../../hal/sim/assets/code-2285.png"));
    assert!(!format!("{face:?}").contains("1980"), "Debug shows no personal data");
}

#[test]
fn tampered_cloned_and_unknown_issuer_are_refused_each_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (id, expected) in [
        ("tampered", AuthenticityError::DataAltered.to_string()),
        ("cloned", AuthenticityError::ClonedChip.to_string()),
    ] {
        let (_slot, mut reader) = slot(id, dir.path());
        let err = face_path(&mut reader, &mut Vec::new(), "55021720352285").unwrap_err();
        assert_eq!(err, expected, "{id}");
    }
    let (_slot, mut reader) = slot("normal", dir.path());
    let mut card = Card::new(&mut reader);
    let mut ap = SurfaceAp::select(&mut card).unwrap();
    ap.open(&CollationB::new("55021720352285").unwrap()).unwrap();
    let face = ap.card_face().unwrap();
    assert_eq!(ap.check_authenticity(&face, &IssuerKeys::default(), &[1; 32]), Err(AuthenticityError::UnknownIssuer));
}

#[test]
fn wrong_collation_numbers_cost_one_try_each_and_a_blocked_key_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_slot, mut reader) = slot("normal", dir.path());
    let mut sent = Vec::new();
    let mut card = Card::new(Recording { reader: &mut reader, sent: &mut sent, received: 0 });
    let mut ap = SurfaceAp::select(&mut card).unwrap();
    for left in (0..10).rev() {
        let wrong = CollationB::new(&format!("5502172035{:04}", 1000 + left as u32)).unwrap();
        assert_eq!(
            ap.open(&wrong).unwrap(),
            if left == 0 { CollationOutcome::Wrong(0) } else { CollationOutcome::Wrong(left) }
        );
    }
    assert_eq!(ap.collation_b_status().unwrap(), PinStatus::Blocked);
    assert_eq!(ap.open(&CollationB::new("55021720352285").unwrap()).unwrap(), CollationOutcome::Blocked);
    let _ = card.into_inner();
    assert_eq!(sent.iter().filter(|a| kaoyomi_tests::is_verify_with_data(a)).count(), 10, "no VERIFY to a blocked key");
    // The count lives on the card.
    let again = VirtualCard::issue(persona::find("normal").unwrap(), CounterStore::new(dir.path())).unwrap();
    assert_eq!(again.tries("surface", 0x0012), Some(0));
}

#[test]
fn card_faults_on_every_apdu_of_the_face_path() {
    let reference = {
        let dir = tempfile::tempdir().unwrap();
        let (_slot, mut reader) = slot("normal", dir.path());
        let mut sent = Vec::new();
        face_path(&mut reader, &mut sent, "55021720352285").unwrap();
        sent.len()
    };
    assert!(reference >= 20, "the face path has {reference} APDUs");
    for n in 1..=reference {
        for fault in [Fault::RemoveBefore(n), Fault::RemoveAfter(n), Fault::GarbleAnswer(n), Fault::TruncateAnswer(n)] {
            let dir = tempfile::tempdir().unwrap();
            let (slot, mut reader) = slot("normal", dir.path());
            slot.control().inject(fault);
            let mut sent = Vec::new();
            let result = face_path(&mut reader, &mut sent, "55021720352285");
            assert!(result.is_err(), "{fault:?}: the path must fail, not guess");
            let verifies = sent.iter().filter(|a| kaoyomi_tests::is_verify_with_data(a)).count();
            assert!(verifies <= 1, "{fault:?}: VERIFY resent");
            // The right 照合番号B never costs a try, whatever the fault.
            let card = VirtualCard::issue(persona::find("normal").unwrap(), CounterStore::new(dir.path())).unwrap();
            assert_eq!(card.tries("surface", 0x0012), Some(10), "{fault:?}");
        }
    }
}

#[test]
fn card_info_shows_counters_and_expiry_but_nothing_personal() {
    let dir = tempfile::tempdir().unwrap();
    let (_slot, mut reader) = slot("normal", dir.path());
    let info = kaoyomi_reader::card_info::read(&mut reader).unwrap().to_string();
    for line in ["3 tries left", "5 tries left", "10 tries left", "2035-02-17", "CN=00001001AUTH"] {
        assert!(info.contains(line), "{line} missing from:\n{info}");
    }
    for secret in ["1980", "4721", "55021720352285", "2285"] {
        assert!(!info.contains(secret), "card-info shows {secret}:\n{info}");
    }
}
