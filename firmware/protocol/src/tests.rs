//! Golden-byte and robustness tests of the wire format.

use super::*;
use alloc::vec;

fn hex(bytes: &[u8]) -> alloc::string::String {
    hex::encode(bytes)
}

#[test]
fn golden_get_device_info() {
    let frame = Frame::new(7, Body::Request(Request::GetDeviceInfo));
    assert_eq!(hex(&frame.encode()), "030207010100");
}

#[test]
fn golden_start_session() {
    let frame = Frame::new(
        1,
        Body::Request(Request::StartSession(SessionRequest {
            nonce: [0xAB; 32],
            consents: ConsentRequest { medical: true, checkup: false, limit: true },
            registration_needed: true,
        })),
    );
    assert_eq!(
        hex(&frame.encode()),
        "0302012301abababababababababababababababababababababababababababababababab0103010100"
    );
}

#[test]
fn golden_report() {
    let report = SessionReport {
        session_id: 3,
        reader_serial: "KY-0001".into(),
        nonce: [1; 32],
        request: [2; 32],
        method: Some(AuthMethod::Pin),
        outcome: Outcome::Verified,
        token: Some(TokenKind::Card),
        auth_certificate: Some(vec![0x30, 0x82]),
        card_signature: Some(vec![0x55; 4]),
        consents: vec![ConsentAnswer { topic: ConsentTopic::Medical, agreed: true }],
        registration: None,
        started_ms: 1_700_000_000_000,
        finished_ms: 1_700_000_012_345,
    };
    assert_eq!(
        hex(&report.to_bytes()),
        "03074b592d30303031010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202020101000100010230820104555555550100010080d095ffbc31b9b096ffbc31"
    );
    assert_eq!(SessionReport::from_bytes(&report.to_bytes()), Ok(report));
}

#[test]
fn golden_progress_and_error() {
    let frame = Frame::new(
        9,
        Body::Notification(Notification::Progress { session_id: 2, progress: Progress::PinWrong { tries_left: 2 } }),
    );
    assert_eq!(hex(&frame.encode()), "040209020402050200");
    let frame = Frame::new(
        10,
        Body::Response { to: 4, response: Response::Error { code: ErrorCode::Busy, message: "busy".into() } },
    );
    assert_eq!(hex(&frame.encode()), "0c020a01040302046275737900");
}

#[test]
fn round_trip_through_stream_with_garbage() {
    let a = Frame::new(1, Body::Request(Request::SetVisualMode { enabled: true }));
    let b = Frame::new(2, Body::Request(Request::CancelSession { session_id: 5 }));
    let mut stream = a.encode();
    stream.extend_from_slice(&[0x13, 0x37, 0xFF, 0xFF, 0xFF, 0x00]);
    stream.extend_from_slice(&b.encode());
    let mut reader = FrameReader::new();
    // Feed in odd-sized pieces, as a socket or a USB endpoint delivers them.
    let mut results = Vec::new();
    for chunk in stream.chunks(3) {
        results.extend(reader.push(chunk));
    }
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], Ok(a));
    assert_eq!(results[1], Err(DecodeError::Malformed));
    assert_eq!(results[2], Ok(b));
}

#[test]
fn other_version_is_named() {
    let mut frame = Frame::new(1, Body::Request(Request::GetDeviceInfo));
    frame.version = 1;
    let bytes = postcard::to_allocvec_cobs(&frame).unwrap();
    assert_eq!(Frame::decode(&bytes), Err(DecodeError::Version(1)));
}

#[test]
fn endless_garbage_is_bounded() {
    let mut reader = FrameReader::new();
    let junk = vec![0x41u8; MAX_FRAME_LEN * 2];
    assert!(!reader.mid_frame());
    assert!(reader.push(&junk).is_empty());
    assert!(reader.mid_frame(), "an unfinished (too long) frame is pending");
    assert_eq!(reader.push(&[0]), vec![Err(DecodeError::TooLong)]);
    assert!(!reader.mid_frame());
    let ok = Frame::new(3, Body::Request(Request::GetDeviceInfo));
    let bytes = ok.encode();
    assert!(reader.push(&bytes[..2]).is_empty());
    assert!(reader.mid_frame(), "half a frame is pending");
    assert_eq!(reader.push(&bytes[2..]), vec![Ok(ok)]);
    assert!(!reader.mid_frame());
}

#[test]
fn every_truncation_of_a_frame_is_an_error_not_a_panic() {
    let frame = Frame::new(
        1,
        Body::Request(Request::StartSession(SessionRequest {
            nonce: [7; 32],
            consents: ConsentRequest::default(),
            registration_needed: false,
        })),
    );
    let bytes = frame.encode();
    for cut in 1..bytes.len() - 1 {
        assert!(Frame::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn the_largest_report_fits_in_one_frame() {
    let report = SessionReport {
        session_id: u32::MAX,
        reader_serial: "KY-FFFFFFFFFF".into(),
        nonce: [0xFF; 32],
        request: [0xFF; 32],
        method: Some(AuthMethod::Pin),
        outcome: Outcome::Cancelled(CancelReason::CardUnusable),
        token: Some(TokenKind::AndroidPhone),
        auth_certificate: Some(alloc::vec![0xFF; MAX_CERTIFICATE_LEN]),
        card_signature: Some(alloc::vec![0xFF; MAX_CARD_SIGNATURE_LEN]),
        consents: [ConsentTopic::Medical, ConsentTopic::Checkup, ConsentTopic::Limit]
            .map(|topic| ConsentAnswer { topic, agreed: true })
            .to_vec(),
        registration: Some(true),
        started_ms: u64::MAX,
        finished_ms: u64::MAX,
    };
    let frame = Frame::new(
        u32::MAX,
        Body::Notification(Notification::Result(SignedReport {
            report: report.to_bytes(),
            signature: alloc::vec![0xFF; 64],
        })),
    );
    let encoded = frame.encode();
    assert!(encoded.len() <= MAX_FRAME_LEN, "{} bytes", encoded.len());
    assert_eq!(Frame::decode(&encoded), Ok(frame));
}

#[test]
fn a_request_digest_changes_with_every_field() {
    let base = SessionRequest {
        nonce: [3; 32],
        consents: ConsentRequest { medical: true, checkup: false, limit: false },
        registration_needed: false,
    };
    let mut other_nonce = base.clone();
    other_nonce.nonce[31] ^= 1;
    let mut other_consents = base.clone();
    other_consents.consents.limit = true;
    let mut other_registration = base.clone();
    other_registration.registration_needed = true;
    for other in [other_nonce, other_consents, other_registration] {
        assert_ne!(base.digest(), other.digest());
    }
    assert_eq!(base.digest(), base.clone().digest());
}
