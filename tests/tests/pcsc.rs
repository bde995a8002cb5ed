//! The real PC/SC path: the virtual card served by kaoyomi-cardsim to pcscd through vpcd.
//!
//! Needs a running pcscd with Debian's vsmartcard-vpcd and OpenSC; `cargo xtask test` installs them,
//! starts pcscd and runs these tests with `--ignored`. They share vpcd's first slot, so they run in
//! one test function, one after the other.

use kaoyomi_board::Board;
use kaoyomi_cardsim::CardSim;
use kaoyomi_hal_sim::pki;
use kaoyomi_protocol::{AuthMethod, ConsentRequest, Notification, Outcome, SessionRequest};
use kaoyomi_reader::{InputSource, Options};
use kaoyomi_terminal::{CardSignature, ChainCheck, Client, verify_report};
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
        pace: std::time::Duration::ZERO,
    };
    let reader = std::thread::spawn(move || kaoyomi_reader::run(options));
    let mut client = {
        let sock = state.join("reader.sock");
        wait_for("the reader socket", || UnixStream::connect(&sock).is_ok());
        Client::new(UnixStream::connect(&sock).unwrap())
    };
    let t = Duration::from_secs(30);
    let info = client.device_info(t).unwrap();
    let nonce = [0x17; 32];
    let all = ConsentRequest { medical: true, checkup: true, limit: true };
    client.start_session(SessionRequest { nonce, consents: all, registration_needed: false }, t).unwrap();
    let signed = loop {
        if let Notification::Result(signed) = client.next_notification(Duration::from_secs(60)).unwrap() {
            break signed;
        }
    };
    let v = verify_report(&signed, &info.device_key, &nonce, &[pki::ca_certificate().unwrap()]).unwrap();
    assert_eq!((v.report.outcome, v.report.method), (Outcome::Verified, Some(AuthMethod::Pin)));
    assert_eq!(v.card_signature, CardSignature::Valid);
    assert!(matches!(v.chain, ChainCheck::Trusted(_)));
    let summary = reader.join().unwrap().expect("the reader ran its script through pcscd");
    assert_eq!(summary.reports_sent, 1);
}

#[test]
#[ignore = "needs pcscd with vsmartcard-vpcd and OpenSC; run by `cargo xtask test`"]
fn through_pcscd_and_vpcd() {
    let state = tempfile::tempdir().unwrap();
    opensc_reads_and_signs(&state.path().join("opensc"));
    reader_pin_session(&state.path().join("reader"));
}
