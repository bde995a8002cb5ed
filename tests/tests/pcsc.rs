//! The real PC/SC path: the virtual card served by kaoyomi-cardsim to pcscd through vpcd.
//!
//! Needs a running pcscd with Debian's vsmartcard-vpcd and OpenSC; `cargo xtask test` installs them,
//! starts pcscd and runs these tests with `--ignored`. They share vpcd's first slot, so they run in
//! one test function, one after the other.

use kaoyomi_board::Board;
use kaoyomi_cardsim::CardSim;
use kaoyomi_hal_sim::pki;
use kaoyomi_protocol::{AuthMethod, ConsentRequest, Notification, Outcome, Progress, SessionRequest};
use kaoyomi_reader::{InputSource, Options};
use kaoyomi_terminal::{CardSignature, ChainCheck, Client, Expected, verify_report};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

const VPCD: &str = "127.0.0.1:35963";

fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable ({e}); is OpenSC installed?"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Runs an OpenSC tool. Right after another client released the card, pcscd resets it through vpcd,
/// and a client that connects during that reset sees no ATR ("Unsupported card"); such a run is
/// repeated, anything else is returned as it is.
fn opensc(program: &str, args: &[&str]) -> (bool, String) {
    for _ in 0..10 {
        let (ok, out) = tool(program, args);
        if !out.contains("Unsupported card") {
            return (ok, out);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    tool(program, args)
}

fn pkcs11_module() -> &'static str {
    [
        "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so",
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/opensc-pkcs11.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("opensc-pkcs11.so")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn card_present() -> bool {
    tool("opensc-tool", &["-l"]).1.lines().any(|l| l.contains("Virtual PCD 00 00") && l.contains("Yes"))
}

fn opensc_reads_and_signs(state: &Path) {
    std::fs::create_dir_all(state).unwrap();
    let sim = CardSim::new(VPCD, state);
    sim.insert("normal").unwrap();
    wait_for("pcscd to see the card", card_present);

    let (ok, out) = opensc("pkcs15-tool", &["--reader", "0", "--list-certificates"]);
    assert!(ok && out.contains("User Authentication Certificate") && out.contains("000a"), "{out}");
    let (ok, pem) = opensc("pkcs15-tool", &["--reader", "0", "--read-certificate", "01"]);
    assert!(ok, "{pem}");
    let cert = Certificate::from_pem(pem.trim().as_bytes()).expect("OpenSC returns the certificate as PEM");
    assert_eq!(cert.tbs_certificate.subject.to_string(), "CN=00001001AUTH,OU=Kaoyomi simulated card,C=JP");
    let (ok, pins) = opensc("pkcs15-tool", &["--reader", "0", "--list-pins"]);
    assert!(ok && pins.contains("User Authentication PIN") && pins.contains("Tries left     : 3"), "{pins}");

    // A signature with the 利用者証明用 key after PIN verification, checked against the certificate.
    let msg = state.join("msg");
    let sig = state.join("sig");
    std::fs::write(&msg, b"kaoyomi opensc interoperability").unwrap();
    let (ok, out) = opensc(
        "pkcs11-tool",
        &[
            "--module",
            pkcs11_module(),
            "--slot",
            "0",
            "--login",
            "--pin",
            "4721",
            "--sign",
            "--mechanism",
            "SHA256-RSA-PKCS",
            "--id",
            "01",
            "-i",
        ]
        .into_iter()
        .chain([msg.to_str().unwrap(), "-o", sig.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    assert!(ok, "pkcs11-tool --sign failed:\n{out}");
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().unwrap();
    let key = VerifyingKey::<sha2::Sha256>::new(rsa::RsaPublicKey::from_public_key_der(&spki).unwrap());
    let signature = Signature::try_from(std::fs::read(&sig).unwrap().as_slice()).unwrap();
    key.verify(b"kaoyomi opensc interoperability", &signature)
        .expect("OpenSC's signature verifies against the card's certificate");

    // A wrong PIN through OpenSC costs exactly one try on the card.
    let (ok, out) =
        opensc("pkcs11-tool", &["--module", pkcs11_module(), "--slot", "0", "--login", "--pin", "0000", "--test"]);
    assert!(!ok, "a wrong PIN was accepted:\n{out}");
    let (_, pins) = opensc("pkcs15-tool", &["--reader", "0", "--list-pins"]);
    assert!(pins.contains("Tries left     : 2"), "{pins}");
    sim.remove();
    wait_for("pcscd to see the card go", || !card_present());
}

fn reader_pin_session(state: &Path) {
    std::fs::create_dir_all(state).unwrap();
    let sim = CardSim::new(VPCD, state);
    let control = state.join("cardsim.sock");
    std::thread::spawn({
        let control = control.clone();
        move || sim.serve_control(&control)
    });
    wait_for("the cardsim control socket", || control.exists());
    let script = include_str!("../../board/scripts/demo-pin.script").lines().map(String::from).collect();
    let options = Options {
        board: Board::sim_pcsc(),
        state: state.to_path_buf(),
        input: InputSource::Script(script),
        once: false,
        show_screens: false,
        view: None,
        preview: None,
        taps: None,
        pairing_view: None,
        maintenance: None,
        maintenance_view: None,
        settings_view: None,
        touch: None,
        pace: std::time::Duration::ZERO,
    };
    let reader = std::thread::spawn(move || kaoyomi_reader::run(options));
    let mut client = {
        let sock = state.join("reader.sock");
        wait_for("the reader socket", || UnixStream::connect(&sock).is_ok());
        let key = kaoyomi_protocol::channel::StaticKey::generate().unwrap();
        let t = Duration::from_secs(30);
        let mut client = Client::connect(UnixStream::connect(&sock).unwrap(), &key, "pcsc", t).unwrap();
        let code = client.handshake_code().unwrap();
        client.pair(code, t).unwrap();
        client
    };
    let t = Duration::from_secs(30);
    let info = client.device_info(t).unwrap();
    let nonce = [0x17; 32];
    let all = ConsentRequest { medical: true, checkup: true, limit: true };
    let request = SessionRequest { nonce, consents: all, registration_needed: false };
    let session_id = client.start_session(request.clone(), t).unwrap();
    let mut tried_while_consenting = false;
    let signed = loop {
        match client.next_notification(Duration::from_secs(60)).unwrap() {
            Notification::Result(signed) => break signed,
            // The patient's PIN opened the key and the card signed; the consents show now.
            Notification::Progress { progress: Progress::Consents, .. } if !tried_while_consenting => {
                tried_while_consenting = true;
                second_client_is_kept_out();
            }
            _ => {}
        }
    };
    assert!(tried_while_consenting, "the session never reached the consents");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let expected =
        Expected { device_key: &info.device_key, serial: &info.serial, session_id, request: &request, now_ms };
    let v = verify_report(&signed, &expected, &[pki::ca_certificate().unwrap()]).unwrap();
    assert_eq!((v.report.outcome, v.report.method), (Outcome::Verified, Some(AuthMethod::Pin)));
    assert_eq!(v.card_signature, CardSignature::Valid);
    assert!(matches!(v.chain, ChainCheck::Trusted(_)));
    let summary = reader.join().unwrap().expect("the reader ran its script through pcscd");
    assert_eq!(summary.reports_sent, 1);
}

/// Another PC/SC program on the card the reader is using: it cannot connect (the reader holds the
/// card exclusively), so it can neither select the JPKI application nor sign with the key the
/// patient's PIN opened, nor read the card face.
fn second_client_is_kept_out() {
    let context = pcsc::Context::establish(pcsc::Scope::User).expect("pcscd");
    let readers = context.list_readers_owned().expect("readers");
    let reader = readers.first().expect("vpcd's reader");
    match context.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
        Err(pcsc::Error::SharingViolation) => {}
        Err(e) => panic!("a second client was refused, but not because the reader holds the card: {e}"),
        Ok(card) => {
            // SELECT the JPKI application: must not succeed.
            let mut buf = [0u8; 258];
            let answer = card.transmit(
                &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01],
                &mut buf,
            );
            panic!("a second PC/SC client reached the patient's card: {answer:?}");
        }
    }
}

#[test]
#[ignore = "needs pcscd with vsmartcard-vpcd and OpenSC; run by `cargo xtask test`"]
fn through_pcscd_and_vpcd() {
    let state = tempfile::tempdir().unwrap();
    opensc_reads_and_signs(&state.path().join("opensc"));
    reader_pin_session(&state.path().join("reader"));
}
