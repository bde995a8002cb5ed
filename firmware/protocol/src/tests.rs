//! Golden-byte and robustness tests of the wire format.

use super::*;
use alloc::vec;

fn hex(bytes: &[u8]) -> alloc::string::String {
    hex::encode(bytes)
}

#[test]
fn golden_get_device_info() {
    let frame = Frame::new(7, Body::Request(Request::GetDeviceInfo));
    assert_eq!(hex(&frame.encode()), "030107010100");
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
        "0301012301abababababababababababababababababababababababababababababababab0103010100"
    );
}

#[test]
fn golden_report() {
    let report = SessionReport {
        session_id: 3,
        reader_serial: "KY-0001".into(),
        nonce: [1; 32],
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
        "03074b592d3030303101010101010101010101010101010101010101010101010101010101010101010101000100010230820104555555550100010080d095ffbc31b9b096ffbc31"
    );
    assert_eq!(SessionReport::from_bytes(&report.to_bytes()), Ok(report));
}

#[test]
fn golden_progress_and_error() {
    let frame = Frame::new(
        9,
        Body::Notification(Notification::Progress { session_id: 2, progress: Progress::PinWrong { tries_left: 2 } }),
    );
    assert_eq!(hex(&frame.encode()), "040109020402050200");
    let frame = Frame::new(
        10,
        Body::Response { to: 4, response: Response::Error { code: ErrorCode::Busy, message: "busy".into() } },
    );
    assert_eq!(hex(&frame.encode()), "0c010a01040302046275737900");
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
    frame.version = 2;
    let bytes = postcard::to_allocvec_cobs(&frame).unwrap();
    assert_eq!(Frame::decode(&bytes), Err(DecodeError::Version(2)));
}

#[test]
fn endless_garbage_is_bounded() {
    let mut reader = FrameReader::new();
    let junk = vec![0x41u8; MAX_FRAME_LEN * 2];
    assert!(reader.push(&junk).is_empty());
    assert_eq!(reader.push(&[0]), vec![Err(DecodeError::TooLong)]);
    let ok = Frame::new(3, Body::Request(Request::GetDeviceInfo));
    assert_eq!(reader.push(&ok.encode()), vec![Ok(ok)]);
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
