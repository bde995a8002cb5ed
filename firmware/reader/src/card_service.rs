//! Card operations that core asks for, carried out on a card reader with kaoyomi-myna.
//!
//! [`execute`] turns one job into the event core expects; [`spawn`] runs a thread that watches card
//! presence and executes jobs in order. A card that leaves mid-operation produces a fault event for
//! the job and a `CardRemoved` event from the presence watch; nothing is ever retried.

use crate::face_service::{FaceJob, Photo};
use kaoyomi_core::{CardProblem, CardSummary, Event, FaceProblem, PinResult, PinState};
use kaoyomi_hal::card::{CardReader, Presence, Transmit};
use kaoyomi_myna::card::{Card, Error as CardError, PinStatus};
use kaoyomi_myna::jpki::{self, JpkiAp, SignOutcome, Token};
use kaoyomi_myna::surface::{AuthenticityError, CollationB, CollationOutcome, IssuerKeys, SurfaceAp};
use kaoyomi_protocol::TokenKind;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

pub use kaoyomi_core::CardJob as Job;

/// What the card thread does: core's jobs, and opening the card photo for the face check. Each
/// names the card it is for by its placement number (`card`, counted from 1 by the main loop as
/// it hears `CardPlaced`, and by the card thread as it sees cards arrive): a job whose card has
/// left, or was swapped for another one meanwhile, is answered with a fault and never touches
/// the card in the field, so a PIN typed for one patient can never spend the next one's try.
pub enum Work {
    /// A job of core's.
    Core {
        /// The job.
        job: Job,
        /// The placement it is for.
        card: u64,
    },
    /// Present 照合番号B, read the card-face record and send its photo to the face thread.
    CardPhoto {
        /// The face check's operation number.
        op: u32,
        /// The placement it is for.
        card: u64,
        /// 照合番号B as printed on the card.
        collation: CollationB,
    },
    /// The maintenance page's self-test of the card reader (and of a card on it, asked only to
    /// select its JPKI application: no PIN, no 照合番号B, no try spent); the line goes to `reply`.
    SelfTest(Sender<kaoyomi_maintenance::contract::TestLine>),
}

/// The card reader's self-test: `error` is what the reader's last look for a card said, if it
/// failed; with a card present, the card is asked to select its JPKI application.
pub fn self_test<R: CardReader>(
    reader: &mut R,
    error: Option<&str>,
    present: bool,
) -> kaoyomi_maintenance::contract::TestLine {
    use crate::self_tests::{failed, passed};
    use kaoyomi_maintenance::contract::Part;
    let part = Part::CardReader;
    if let Some(e) = error {
        return failed(part, "selftest.note.card-reader-missing", e);
    }
    let name = match reader.attached() {
        Ok(Some(name)) => name,
        Ok(None) => return failed(part, "selftest.note.card-reader-missing", ""),
        Err(e) => return failed(part, "selftest.note.card-reader-missing", e.to_string()),
    };
    if !present {
        return passed(part, "selftest.note.card-reader-no-card", name);
    }
    let started = std::time::Instant::now();
    let answered = JpkiAp::select(&mut Card::new(&mut *reader)).map(drop);
    let ms = started.elapsed().as_millis();
    match answered {
        Ok(()) => passed(part, "selftest.note.card-answered", format!("{name} JPKI AP {ms} ms").trim().to_string()),
        Err(e) => failed(part, "selftest.note.card-no-answer", e.to_string()),
    }
}

/// Where the card photo goes, and whose chips are trusted to prove themselves genuine.
pub struct PhotoWiring {
    /// The keys of the card issuers whose certificates the reader trusts.
    pub issuers: Arc<IssuerKeys>,
    /// The face thread's queue.
    pub reply: Sender<FaceJob>,
}

/// Opens the card photo, after the chip has proved itself genuine (its record is signed by the
/// issuer's certified key and the chip answers a fresh challenge with the record's key): a face
/// is never compared with the photo of a cloned or altered card. A card that refused 照合番号B once
/// while placed is not asked again (`refused` remembers it until the card leaves), and a value any
/// card refused is never presented again (`Refused` keeps salted hashes, not the digits): the tries
/// are the card holder's.
fn card_photo<T: Transmit>(
    card: &mut Card<T>,
    collation: &CollationB,
    issuers: &IssuerKeys,
    refused: &mut bool,
    refused_values: &mut Refused,
) -> Result<Photo, FaceProblem> {
    if *refused {
        log::warn!("照合番号B was refused by this card before: not presented again");
        return Err(FaceProblem::CardRefused);
    }
    if refused_values.contains(collation) {
        log::warn!("this 照合番号B value was refused by a card before: not presented again");
        return Err(FaceProblem::CardRefused);
    }
    let mut ap = SurfaceAp::select(card).map_err(|e| {
        log::warn!("card-face application: {e}");
        FaceProblem::CardPhoto
    })?;
    match ap.open(collation) {
        Ok(CollationOutcome::Opened) => {}
        Ok(CollationOutcome::Wrong(n)) => {
            *refused = true;
            refused_values.insert(collation);
            log::warn!("the card refused 照合番号B ({n} tries left); it will not be presented again");
            return Err(FaceProblem::CardRefused);
        }
        Ok(CollationOutcome::Blocked) => {
            *refused = true;
            log::warn!("照合番号B is blocked on this card");
            return Err(FaceProblem::CardRefused);
        }
        Err(e) => {
            log::warn!("presenting 照合番号B failed: {e}");
            return Err(FaceProblem::CardPhoto);
        }
    }
    let face = ap.card_face().map_err(|e| {
        log::warn!("reading the card-face record failed: {e}");
        FaceProblem::CardPhoto
    })?;
    let mut nonce = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    match ap.check_authenticity(&face, issuers, &nonce) {
        Ok(()) => Ok(Photo::new(face.photo_jp2().to_vec())),
        Err(AuthenticityError::Card(e)) => {
            log::warn!("checking the chip failed: {e}");
            Err(FaceProblem::CardPhoto)
        }
        Err(e) => {
            log::warn!("the card is not genuine: {e}");
            Err(FaceProblem::CardNotGenuine)
        }
    }
}

/// The 照合番号B values cards refused, as SHA-256 hashes under a random key of this run (so
/// neither memory nor a crash dump holds a value that can be read back from them cheaply).
pub struct Refused {
    key: [u8; 32],
    hashes: Vec<[u8; 32]>,
}

impl Refused {
    /// An empty memory with a fresh key.
    pub fn new() -> Refused {
        let mut key = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
        Refused { key, hashes: Vec::new() }
    }

    fn hash(&self, value: &CollationB) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::new().chain_update(self.key).chain_update(value.expose()).finalize().into()
    }

    /// Whether `value` was refused before.
    pub fn contains(&self, value: &CollationB) -> bool {
        self.hashes.contains(&self.hash(value))
    }

    /// Remembers that `value` was refused.
    pub fn insert(&mut self, value: &CollationB) {
        let h = self.hash(value);
        self.hashes.push(h);
    }
}

impl Default for Refused {
    fn default() -> Refused {
        Refused::new()
    }
}

fn problem(error: &CardError) -> CardProblem {
    match error {
        CardError::Transmit(_) => CardProblem::NoAnswer,
        CardError::Refused { op: "SELECT application", sw } if sw.0 == 0x6A82 => CardProblem::NotMyNumberCard,
        CardError::Refused { .. } | CardError::Malformed(_) | CardError::Tlv(_) => CardProblem::BadAnswer,
    }
}

fn read<T: Transmit>(card: &mut Card<T>) -> Result<CardSummary, CardError> {
    let mut ap = JpkiAp::select(card)?;
    let token = match ap.token()? {
        Token::Card => TokenKind::Card,
        Token::Android => TokenKind::AndroidPhone,
        Token::Iphone => TokenKind::IPhone,
        Token::Other(_) => {
            return Err(CardError::Refused { op: "SELECT application", sw: kaoyomi_myna::StatusWord(0x6A82) });
        }
    };
    let auth_certificate = ap.auth_certificate()?;
    if auth_certificate.len() > kaoyomi_protocol::MAX_CERTIFICATE_LEN {
        // A report carrying it would not fit in one frame; no card's is this long.
        return Err(CardError::Malformed("利用者証明用 certificate longer than a report can carry"));
    }
    let pin = match ap.auth_pin_status()? {
        PinStatus::Remaining(n) => PinState::Tries(n),
        PinStatus::Blocked => PinState::Blocked,
        PinStatus::NotSet => PinState::NotSet,
        PinStatus::Verified | PinStatus::NoLimit => {
            return Err(CardError::Malformed("利用者証明用 PIN reports no retry counter"));
        }
    };
    // A physical card also carries its expiry (common record) and the 照合番号B counter; both
    // are read without any credential and without using a try.
    let (expiry, collation_b) = if token == TokenKind::Card {
        let expiry = match kaoyomi_myna::common::read_expiry(card) {
            Ok(d) => Some(d.year as u32 * 10_000 + d.month as u32 * 100 + d.day as u32),
            Err(CardError::Refused { sw, .. }) if sw.0 == 0x6A82 => None,
            Err(e) => return Err(e),
        };
        let collation_b = match SurfaceAp::select(card).and_then(|mut ap| ap.collation_b_status()) {
            Ok(PinStatus::Remaining(n)) => Some(PinState::Tries(n)),
            Ok(PinStatus::Blocked) => Some(PinState::Blocked),
            Ok(_) => None,
            Err(CardError::Refused { sw, .. }) if sw.0 == 0x6A82 => None,
            Err(e) => return Err(e),
        };
        (expiry, collation_b)
    } else {
        (None, None)
    };
    Ok(CardSummary { token, pin, auth_certificate, expiry, collation_b })
}

/// Carries out one job on a connected card and returns core's event.
pub fn execute<T: Transmit>(card: &mut Card<T>, job: Job) -> Event {
    match job {
        Job::Read { op } => match read(card) {
            Ok(summary) => Event::CardRead { op, summary },
            Err(e) => {
                log::warn!("card read failed: {e}");
                Event::CardUnusable { op, problem: problem(&e) }
            }
        },
        Job::VerifyPinAndSign { op, pin, message, allow_last_try } => {
            let digest_info = jpki::sha256_digest_info(&message);
            let outcome = JpkiAp::select(card)
                .and_then(|mut ap| ap.verify_and_sign(pin.expose_ascii(), &digest_info, allow_last_try));
            drop(pin);
            let result = match outcome {
                Ok(SignOutcome::Signed(signature)) => PinResult::Verified { signature },
                Ok(SignOutcome::Wrong(n)) => PinResult::Wrong { tries_left: n },
                Ok(SignOutcome::Blocked) => PinResult::Blocked,
                Ok(SignOutcome::NeedsConfirmation) => PinResult::NeedsConfirmation,
                Ok(SignOutcome::NotSet) => PinResult::NotSet,
                Err(e) => {
                    log::warn!("PIN verification failed: {e}");
                    PinResult::Fault(problem(&e))
                }
            };
            Event::PinChecked { op, result }
        }
    }
}

/// The answer to a job that was not run because its card is gone: a fault, as if the card had
/// not answered (core ignores it when the operation is no longer current).
fn not_run(job: &Job) -> Event {
    match job {
        Job::Read { op } => Event::CardUnusable { op: *op, problem: CardProblem::NoAnswer },
        Job::VerifyPinAndSign { op, .. } => {
            Event::PinChecked { op: *op, result: PinResult::Fault(CardProblem::NoAnswer) }
        }
    }
}

/// Resets the card after a job that opened its security state (a verified PIN, the card face):
/// what that state allows ends with the job that needed it.
fn reset_after<R: CardReader>(reader: &mut R, what: &str) {
    if let Err(e) = reader.reset() {
        log::warn!("resetting the card after {what} failed ({e}); powering it down");
        reader.disconnect();
    }
}

/// Watches presence and runs jobs on `reader` until `jobs` closes; events go to `events`, card
/// photos to `photos`.
pub fn spawn<R>(
    mut reader: R,
    jobs: Receiver<Work>,
    events: Sender<Event>,
    photos: PhotoWiring,
) -> std::thread::JoinHandle<()>
where
    R: CardReader + Send + 'static,
{
    std::thread::Builder::new()
        .name("card".into())
        .spawn(move || {
            let mut present = false;
            // Placements seen so far: the current card's number while one is present.
            let mut placement: u64 = 0;
            let mut collation_refused = false;
            let mut refused_values = Refused::new();
            // What the reader's last look said when it failed (for the self-test).
            let mut reader_error: Option<String> = None;
            loop {
                // Presence first, so a removal is reported before a stale job runs.
                let seen = match reader.wait_presence(Duration::from_millis(20)) {
                    Ok(p) => {
                        reader_error = None;
                        p
                    }
                    Err(e) => {
                        let e = e.to_string();
                        if reader_error.as_ref() != Some(&e) {
                            log::error!("card reader: {e}");
                        }
                        reader_error = Some(e);
                        Presence::Absent
                    }
                };
                if seen == Presence::Replaced && present {
                    // Another card (or the same one again) between two looks: the one core knows
                    // has left, and its jobs with it.
                    present = false;
                    reader.disconnect();
                    let _ = events.send(Event::CardRemoved);
                }
                let now = seen != Presence::Absent;
                if now != present {
                    present = now;
                    collation_refused = false;
                    if present {
                        placement += 1;
                        // The card is there whether or not it answers: core hears of it either way, and a
                        // card that cannot be powered up fails its read job with a clear card error.
                        if let Err(e) = reader.connect() {
                            log::warn!("card present but it cannot be used: {e}");
                        }
                        let _ = events.send(Event::CardPlaced);
                    } else {
                        reader.disconnect();
                        let _ = events.send(Event::CardRemoved);
                    }
                }
                let current = |card: u64| present && card == placement;
                match jobs.recv_timeout(Duration::from_millis(20)) {
                    Ok(Work::Core { job, card }) if !current(card) => {
                        log::warn!("a card job for a card that has left was not run");
                        if events.send(not_run(&job)).is_err() {
                            return;
                        }
                    }
                    Ok(Work::Core { job, .. }) => {
                        let signs = matches!(job, Job::VerifyPinAndSign { .. });
                        let event = execute(&mut Card::new(&mut reader), job);
                        if signs {
                            reset_after(&mut reader, "the PIN check");
                        }
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                    Ok(Work::CardPhoto { op, card, collation }) => {
                        let photo = if current(card) {
                            let photo = card_photo(
                                &mut Card::new(&mut reader),
                                &collation,
                                &photos.issuers,
                                &mut collation_refused,
                                &mut refused_values,
                            );
                            reset_after(&mut reader, "reading the card face");
                            photo
                        } else {
                            log::warn!("the card photo was asked of a card that has left: not opened");
                            Err(FaceProblem::CardPhoto)
                        };
                        drop(collation);
                        let _ = photos.reply.send(FaceJob { op, photo });
                    }
                    Ok(Work::SelfTest(reply)) => {
                        let line = self_test(&mut reader, reader_error.as_deref(), present);
                        let _ = reply.send(line);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .expect("spawn card thread")
}
